"""Paper forms round trip: make -> fill with synthetic handwriting -> photograph crooked -> read.

`--count` forms (default 20, English, 5 prompts each) are drawn and written as a PDF + manifest
(`forms make`'s code); each is filled by `forms/synthetic.py` (one handwriting font of the
held-out `test` families per form) and "photographed" (rotation up to 8 degrees, perspective,
scale, uneven light, blur, noise, JPEG); then `forms read`'s code finds the id, rectifies, detects,
reads, aligns and stores each line in a temporary SQLite store.

Score: a prompt is recovered when a stored line carries it and its crop lies in the area where
that prompt was written. Wrong = a stored line paired with another prompt's text.

    flock /tmp/textrec_bench.lock nice python benchmarks/forms_roundtrip.py

Needs ../shared (corpus, fonts). Writes benchmarks/results/forms_roundtrip.json.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from common import SHARED, Run, argument_parser  # noqa: E402
from PIL import Image  # noqa: E402

from textrec_cli.evaluation.text_metrics import cer  # noqa: E402
from textrec_cli.forms import layout  # noqa: E402
from textrec_cli.forms.align import similarity  # noqa: E402
from textrec_cli.forms.make import make_forms, manifest_path, plan_forms  # noqa: E402
from textrec_cli.forms.read import PromptBook, load_models, read_form, store_reading  # noqa: E402
from textrec_cli.forms.synthetic import fill_form, photograph, writing_fonts  # noqa: E402
from textrec_cli.monitoring.store import open_store  # noqa: E402
from textrec_cli.progress import progress_bar  # noqa: E402


def main() -> None:
    parser = argument_parser("forms_roundtrip", __doc__)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--prompts", type=int, default=5)
    args = parser.parse_args()
    run = Run("forms_roundtrip", args.output, args.note)
    corpus, fonts_dir = SHARED / "corpus", SHARED / "fonts"
    if not corpus.is_dir() or not fonts_dir.is_dir():
        sys.exit(f"needs {corpus} and {fonts_dir}")
    forms = plan_forms(args.count, args.seed, args.lang, prompts=args.prompts, corpus=corpus)
    fonts = writing_fonts(fonts_dir)
    rng = np.random.default_rng(args.seed)
    models = load_models()
    per_form, read_seconds = [], []
    recovered = wrong = total = 0
    cer_refs, cer_hyps, wrong_best = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        pdf = make_forms(forms, Path(tmp) / "forms.pdf")
        book = PromptBook(manifest_path(pdf))
        with (
            open_store(Path(tmp) / "store.sqlite") as store,
            progress_bar("forms", len(forms)) as advance,
        ):
            for form in forms:
                page, written = fill_form(form, fonts, rng)
                photo = Path(tmp) / f"{form.id.label}.jpg"
                photo.write_bytes(photograph(page, rng))
                started = time.perf_counter()
                reading = read_form(Image.open(photo), book, models)
                ids = store_reading(store, reading, None)
                read_seconds.append(time.perf_counter() - started)
                areas = [b.writing_box for b in layout.blocks(len(form.prompts))]
                good = 0
                for line in reading.lines:
                    center = (line.box[1] + line.box[3]) / 2
                    x0, y0, x1, y1 = areas[line.prompt_index]
                    right = line.prompt == form.prompts[line.prompt_index] and y0 <= center <= y1
                    good += right
                    wrong += not right
                    if right:
                        cer_refs.append(written[line.prompt_index])
                        cer_hyps.append(line.reading)
                        others = [similarity(line.reading, p) for p in form.prompts
                                  if p != line.prompt]  # fmt: skip
                        wrong_best.append(max(others, default=0.0))
                recovered += good
                total += len(form.prompts)
                per_form.append({
                    "form": form.id.label, "prompts": len(form.prompts), "recovered": good,
                    "detected": reading.detected, "stored": len(ids),
                    "marks_found": reading.marks_found,
                    "similarities": [ln.similarity for ln in reading.lines],
                    "seconds": round(read_seconds[-1], 3),
                })  # fmt: skip
                advance(1)
            stored = len(store.contributions())
    run.finish({
        "forms": len(forms), "lines": total, "recovered": recovered, "wrong": wrong,
        "recovered_fraction": round(recovered / max(total, 1), 4), "target": 0.95,
        "stored_contributions": stored,
        "recognition_cer_of_recovered": round(cer(cer_refs, cer_hyps), 4),
        "best_other_prompt_similarity_max": round(max(wrong_best, default=0.0), 4),
        "best_other_prompt_similarity_mean": round(float(np.mean(wrong_best or [0])), 4),
        "seconds_per_form_median": round(float(np.median(read_seconds)), 3),
        "model": models.version, "fonts": sorted(f.path.name for f in fonts),
        "seed": args.seed, "lang": args.lang, "per_form": per_form,
    })  # fmt: skip


if __name__ == "__main__":
    main()
