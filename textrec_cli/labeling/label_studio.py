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
    malformed: str | None = None  # why the task's JSON could not be read (reported, not imported)
    # contributions (label-export --source contributions) carry who wrote it and its licence
    writer_id: str | None = None
    licence: str | None = None
    form_id: str | None = None


class MalformedTask(ValueError):
    """A task whose JSON has the wrong shape (an integer image_hash, a string as annotations)."""


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind):
        raise MalformedTask(f"{what} is a {type(value).__name__}, not the expected JSON type")
    return value


def _texts(value: Any) -> list[str]:
    """A textarea's `text`: a list of strings (or one string)."""
    if isinstance(value, str):
        return [value]
    return [_expect(t, str, "a transcription") for t in _expect(value, list, "value.text")]


def _annotation_text(annotation: dict[str, Any]) -> str | None:
    texts = []
    for item in _expect(annotation.get("result") or [], list, "annotation result"):
        _expect(item, dict, "an annotation result item")
        if item.get("from_name") == FROM_NAME and item.get("type", "textarea") == "textarea":
            value = _expect(item.get("value") or {}, dict, "result value")
            texts += _texts(value.get("text") or [])
    return " ".join(texts) if texts else None


def _latest(annotations: list[dict[str, Any]]) -> dict[str, Any] | None:
    for annotation in annotations:
        _expect(annotation, dict, "an annotation")
    usable = [a for a in annotations if not a.get("was_cancelled")]
    if not usable:
        return None
    return max(
        usable,
        key=lambda a: (
            str(a.get("updated_at") or a.get("created_at") or ""),
            str(a.get("id") or ""),
        ),
    )


def parse_export(payload: Any) -> list[ExportedTask]:
    """Tasks of a Label Studio JSON export (or JSON-MIN: `{"image", "transcription"}` rows)."""
    if not isinstance(payload, list):
        raise ValueError("a Label Studio export is a JSON list of tasks")
    tasks = []
    for position, task in enumerate(payload):
        if not isinstance(task, dict):
            raise ValueError(f"task {position} is not a JSON object")
        task_id = task.get("id", position)
        if not isinstance(task_id, (int, str)) or isinstance(task_id, bool):
            task_id = position
        try:
            tasks.append(_parse_task(task, task_id))
        except MalformedTask as exc:  # one bad task is reported; the others still import
            tasks.append(ExportedTask(task_id, "", None, None, malformed=str(exc)))
    return tasks


def _parse_task(task: dict[str, Any], task_id: Any) -> ExportedTask:
    """One task, every field type-checked (MalformedTask names the first one that is wrong)."""
    if "data" not in task and "image" in task:  # JSON-MIN
        text = task.get(FROM_NAME)
        text = " ".join(_texts(text)) if text is not None else None
        image_hash = _expect(task.get("image_hash"), (str, type(None)), "image_hash")
        return ExportedTask(
            task_id, _expect(task["image"], str, "image"), image_hash, text, **_provenance(task)
        )
    data = _expect(task.get("data") or {}, dict, "data")
    annotations = _expect(task.get("annotations") or [], list, "annotations")
    chosen = _latest(annotations)
    return ExportedTask(
        task_id=task_id,
        image=_expect(data.get("image", ""), str, "data.image"),
        image_hash=_expect(data.get("image_hash"), (str, type(None)), "data.image_hash"),
        text=_annotation_text(chosen) if chosen else None,
        cancelled=bool(annotations) and chosen is None,
        **_provenance(data),
    )


def _provenance(data: dict[str, Any]) -> dict[str, str | None]:
    """writer_id, licence and form_id of a contribution's task (None for a prediction's)."""
    return {
        name: _expect(data.get(name), (str, type(None)), f"data.{name}")
        for name in ("writer_id", "licence", "form_id")
    }


def image_name(url: str) -> str:
    """The file name in an image URL (`/data/local-files/?d=a/b.png`, `http://…/b.png`)."""
    parsed = urlparse(url)
    path = parse_qs(parsed.query).get("d", [parsed.path])[0]
    return path.rstrip("/").rsplit("/", 1)[-1]
