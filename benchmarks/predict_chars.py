"""Characters per second for `predict` on a batch (bundled model unless --model), JSON results.

Measures two things side by side in one run: the model alone on preprocessed 28x28 stems, and the
whole `predict` path for files (decode + stem + model), as `textrec predict a.png b.png …` runs it.

    python benchmarks/predict_chars.py --count 2000     # -> benchmarks/results/predict_chars.json
    python benchmarks/predict_chars.py --count 50 --repeats 1 --output /tmp/predict_chars.json
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from common import Run, argument_parser, time_each  # noqa: E402
from PIL import Image  # noqa: E402

from textrec_cli.image_io import load_image  # noqa: E402
from textrec_cli.inference.predictor import load_predictor  # noqa: E402
from textrec_cli.stems.char import char_stem  # noqa: E402


def _sample_images(count: int, rng: np.random.Generator) -> list[Image.Image]:
    """Dark strokes on white at varied sizes, like user-supplied character photos."""
    images = []
    for _ in range(count):
        size = int(rng.integers(40, 200))
        image = Image.new("L", (size, size), 255)
        x0, x1 = sorted(rng.integers(size // 5, 4 * size // 5, 2))
        image.paste(0, (int(x0), size // 5, int(x1) + 2, 4 * size // 5))
        images.append(image)
    return images


def main() -> None:
    parser = argument_parser("predict_chars", __doc__)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.count < 1 or args.repeats < 1:
        parser.error("--count and --repeats must be at least 1")

    run = Run("predict_chars", args.output, args.note)
    predictor = load_predictor(args.model)
    rng = np.random.default_rng(0)
    images = _sample_images(args.count, rng)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, image in enumerate(images):
            files.append(Path(tmp) / f"{i}.png")
            image.save(files[-1])
        stems = np.stack([char_stem(image) for image in images])
        predictor.predict_arrays(stems[:256])  # warm-up: graph tracing is not throughput
        repeats = range(args.repeats)
        _, model_only = time_each(lambda _: predictor.predict_arrays(stems), repeats)
        _, end_to_end = time_each(
            lambda _: predictor.predict_images([(str(f), load_image(f)) for f in files]), repeats
        )
    run.finish({
        "model": predictor.version,
        "batch": args.count,
        # the median repeat's rate
        "model_only_chars_per_second": round(args.count / float(np.median(model_only)), 1),
        "end_to_end_chars_per_second": round(args.count / float(np.median(end_to_end)), 1),
        "repeats": args.repeats,
    })  # fmt: skip


if __name__ == "__main__":
    main()
