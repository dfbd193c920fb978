"""Label Studio's formats: import tasks with the model's reading as a pre-annotation, the
labeling interface (an image and a transcription box), and the annotations of an export.

Formats as documented by Label Studio ("Import pre-annotated data", "Label Studio JSON format
of annotated tasks"): tasks are `{"data": {...}, "predictions": [{"model_version", "score",
"result": [...]}]}`; an export repeats each task with `annotations[].result[].value.text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

FROM_NAME = "transcription"
TO_NAME = "image"

LABEL_CONFIG = f"""<View>
  <Header value="Type the line exactly as written (keep spelling, punctuation and accents)"/>
  <Image name="{TO_NAME}" value="$image" zoom="true" zoomControl="true"/>
  <TextArea name="{FROM_NAME}" toName="{TO_NAME}" editable="true" required="true"
            maxSubmissions="1" rows="2" showSubmitButton="false"
            placeholder="transcription"/>
</View>
"""


def make_task(
    image_url: str,
    text: str,
    confidence: float,
    model_version: str,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """One import task; `meta` (image hash, record id, why it was picked) rides in `data`."""
    return {
        "data": {"image": image_url, **meta},
        "predictions": [
            {
                "model_version": model_version,
                "score": round(float(confidence), 6),
                "result": [
                    {
                        "id": str(meta.get("image_hash", ""))[:10] or "pred",
                        "from_name": FROM_NAME,
                        "to_name": TO_NAME,
                        "type": "textarea",
                        "value": {"text": [text]},
                    }
                ],
            }
        ],
    }


@dataclass
class ExportedTask:
    """One task of an export: where its image is and what the annotator typed (None: nothing)."""

    task_id: Any
    image: str
    image_hash: str | None
    text: str | None
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)


def _annotation_text(annotation: dict[str, Any]) -> str | None:
    texts = []
    for item in annotation.get("result") or []:
        if item.get("from_name") == FROM_NAME and item.get("type", "textarea") == "textarea":
            value = item.get("value") or {}
            texts += [str(t) for t in value.get("text") or []]
    return " ".join(texts) if texts else None


def _latest(annotations: list[dict[str, Any]]) -> dict[str, Any] | None:
    usable = [a for a in annotations if not a.get("was_cancelled")]
    if not usable:
        return None
    return max(usable, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""),
                                      str(a.get("id") or "")))  # fmt: skip


def parse_export(payload: Any) -> list[ExportedTask]:
    """Tasks of a Label Studio JSON export (or JSON-MIN: `{"image", "transcription"}` rows)."""
    if not isinstance(payload, list):
        raise ValueError("a Label Studio export is a JSON list of tasks")
    tasks = []
    for position, task in enumerate(payload):
        if not isinstance(task, dict):
            raise ValueError(f"task {position} is not a JSON object")
        if "data" not in task and "image" in task:  # JSON-MIN
            text = task.get(FROM_NAME)
            text = " ".join(map(str, text)) if isinstance(text, list) else text
            tasks.append(
                ExportedTask(
                    task.get("id", position), str(task["image"]), task.get("image_hash"), text
                )  # fmt: skip
            )
            continue
        data = task.get("data") or {}
        annotations = task.get("annotations") or []
        chosen = _latest(annotations)
        tasks.append(
            ExportedTask(
                task_id=task.get("id", position),
                image=str(data.get("image", "")),
                image_hash=data.get("image_hash"),
                text=_annotation_text(chosen) if chosen else None,
                cancelled=bool(annotations) and chosen is None,
            )
        )
    return tasks


def image_name(url: str) -> str:
    """The file name in an image URL (`/data/local-files/?d=a/b.png`, `http://…/b.png`)."""
    parsed = urlparse(url)
    path = parse_qs(parsed.query).get("d", [parsed.path])[0]
    return path.rstrip("/").rsplit("/", 1)[-1]
