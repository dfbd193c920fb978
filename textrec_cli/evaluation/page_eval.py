"""Score page reading: line detection (P/R/F1 at box IoU 0.5), line-matched CER, page CER.

Every engine (textrec, Tesseract, kraken) is scored by the same functions from its lines with
boxes and text, so `evaluate --dataset real_pages` and `benchmarks/page_accuracy.py` agree.
Line-matched CER: each true line is paired one-to-one with a detected line (Hungarian assignment
on box IoU, pairs under `CER_MATCH_IOU` dropped); an unpaired true line counts as fully deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy.optimize import linear_sum_assignment

from textrec_cli.data.charsets import normalize_text
from textrec_cli.data.page_xml import PageLine
from textrec_cli.evaluation.text_metrics import edit_distance
from textrec_cli.fileio import atomic_path, write_json
from textrec_cli.progress import progress_bar

Box = Sequence[float]
DETECTION_IOU = 0.5
CER_MATCH_IOU = 0.1


def iou_matrix(truth: Sequence[Box], pred: Sequence[Box]) -> np.ndarray:
    """Box IoU of every true box (rows) with every predicted box (columns)."""
    if not len(truth) or not len(pred):
        return np.zeros((len(truth), len(pred)))
    t = np.asarray(truth, dtype=np.float64)[:, None, :]
    p = np.asarray(pred, dtype=np.float64)[None, :, :]
    iw = np.clip(np.minimum(t[..., 2], p[..., 2]) - np.maximum(t[..., 0], p[..., 0]), 0, None)
    ih = np.clip(np.minimum(t[..., 3], p[..., 3]) - np.maximum(t[..., 1], p[..., 1]), 0, None)
    inter = iw * ih
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(t) + area(p) - inter, 1e-9)


def match(truth: Sequence[Box], pred: Sequence[Box], min_iou: float) -> list[tuple[int, int]]:
    """One-to-one (true, predicted) pairs maximising total IoU, each pair at least `min_iou`."""
    iou = iou_matrix(truth, pred)
    if iou.size == 0:
        return []
    rows, cols = linear_sum_assignment(-iou)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= min_iou]


def detection_scores(
    truth: Sequence[Sequence[Box]], pred: Sequence[Sequence[Box]], min_iou: float = DETECTION_IOU
) -> dict[str, float]:
    """Precision, recall and F1 of line boxes over pages (counts summed over pages)."""
    n_true = sum(len(t) for t in truth)
    n_pred = sum(len(p) for p in pred)
    hits = sum(len(match(t, p, min_iou)) for t, p in zip(truth, pred, strict=True))
    precision = hits / n_pred if n_pred else float(n_true == 0)
    recall = hits / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "true_lines": n_true, "detected_lines": n_pred, "matched_lines": hits}  # fmt: skip


def page_scores(truth: list[PageLine], pred: list[PageLine]) -> dict[str, Any]:
    """Per-page counts: detection hits, line-matched edits, page-level edits."""
    refs = [normalize_text(line.text) for line in truth]
    hyps = [line.text for line in pred]
    pairs = dict(match([t.box for t in truth], [p.box for p in pred], CER_MATCH_IOU))
    line_edits = sum(
        edit_distance(ref, hyps[pairs[i]]) if i in pairs else len(ref) for i, ref in enumerate(refs)
    )
    ref_page, hyp_page = "\n".join(refs), "\n".join(hyps)
    return {
        "true_lines": len(truth),
        "detected_lines": len(pred),
        "matched_lines": len(match([t.box for t in truth], [p.box for p in pred], DETECTION_IOU)),
        "ref_chars": sum(len(r) for r in refs),
        "line_edits": line_edits,
        "page_chars": len(ref_page),
        "page_edits": edit_distance(ref_page, hyp_page),
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Corpus metrics from per-page records (each with page_scores' counts and `seconds`)."""
    n_true = sum(r["true_lines"] for r in records)
    n_pred = sum(r["detected_lines"] for r in records)
    hits = sum(r["matched_lines"] for r in records)
    precision = hits / n_pred if n_pred else float(n_true == 0)
    recall = hits / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "pages": len(records),
        "true_lines": n_true,
        "detected_lines": n_pred,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "line_cer": round(sum(r["line_edits"] for r in records)
                          / max(sum(r["ref_chars"] for r in records), 1), 4),
        "page_cer": round(sum(r["page_edits"] for r in records)
                          / max(sum(r["page_chars"] for r in records), 1), 4),
        "seconds_per_page": round(float(np.mean([r["seconds"] for r in records])), 3)
        if records else 0.0,
        # CPU time is the fairer speed on a shared machine; None when an engine did not say
        "cpu_seconds_per_page": round(float(np.mean(cpu)), 3)
        if (cpu := [r["cpu_seconds"] for r in records if r.get("cpu_seconds") is not None])
        and len(cpu) == len(records) else None,
    }  # fmt: skip


def evaluate_pages(
    read_page: Callable[[Image.Image], list[PageLine]],
    samples: list,
    output: Path | None = None,
    worst_dir: Path | None = None,
    worst: int = 5,
    model: str = "",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Read each page sample (real_pages.PageSample), score it, write the JSON report and render
    the worst pages (true polygons green, detected red) into `worst_dir`."""
    from textrec_cli.image_io import load_image

    records, kept = [], []
    with progress_bar("reading pages", len(samples), show_progress) as advance:
        for sample in samples:
            image = load_image(sample.image_path)
            started = time.perf_counter()
            pred = read_page(image)
            seconds = time.perf_counter() - started
            record = {"page": sample.image_path.name, "seconds": round(seconds, 3),
                      **page_scores(sample.page.lines, pred)}  # fmt: skip
            record["page_cer"] = round(record["page_edits"] / max(record["page_chars"], 1), 4)
            records.append(record)
            kept.append((sample, pred))
            advance(1)
    report = {"model": model, "dataset": "real_pages", **summarize(records),
              "detection_iou": DETECTION_IOU, "cer_match_iou": CER_MATCH_IOU,
              "per_page": records}  # fmt: skip
    ranked = sorted(range(len(records)), key=lambda i: -records[i]["page_cer"])[:worst]
    report["worst"] = [records[i]["page"] for i in ranked]
    if worst_dir is not None:
        for i in ranked:
            sample, pred = kept[i]
            render_page(load_image(sample.image_path), sample.page.lines, pred,
                        Path(worst_dir) / f"{sample.image_path.stem}.png")  # fmt: skip
        report["worst_dir"] = str(worst_dir)
    if output is not None:
        write_json(output, report)
    return report


def render_page(image: Image.Image, truth: list[PageLine], pred: list[PageLine], path: Path):
    """The page with true polygons (green) and detected ones (red, with their text)."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    for line in truth:
        draw.polygon(line.polygon, outline=(0, 170, 0), width=3)
    for line in pred:
        draw.polygon(line.polygon, outline=(220, 0, 0), width=2)
        x0, y0, _, _ = line.box
        draw.text((x0, max(y0 - 12, 0)), line.text[:80], fill=(220, 0, 0))
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")


def evaluate_page_folder(
    model: Path | None,
    folder: Path | None,
    split: str,
    limit: int | None = None,
    output: Path | None = None,
    worst_dir: Path | None = None,
) -> dict[str, Any]:
    """`textrec evaluate --dataset real_pages`: a detector (default: bundled) on a page folder."""
    from textrec_cli import settings
    from textrec_cli.data import real_pages
    from textrec_cli.errors import TextrecError
    from textrec_cli.inference.page_reader import PageReader
    from textrec_cli.inference.recognizer import load_reader

    reader = load_reader(model or settings.BUNDLED_DETECTOR)
    if not isinstance(reader, PageReader):
        raise TextrecError(f"{model} is not a line detector; real_pages needs one")
    samples = real_pages.load(folder, split)[:limit]
    reader.read_page(Image.new("L", (64, 64), 255))  # warm up (compile) outside the timing
    return evaluate_pages(reader.read_page, samples, output, worst_dir, model=reader.version)
