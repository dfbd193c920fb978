"""Installed size of the serving dependency set vs a TensorFlow install, from this environment.

Walks each set's dependency closure through the installed distributions' metadata (markers
evaluated, extras not followed) and adds up the sizes of the files each one installed. No
download: it measures what `pip install` put in this venv.

    python benchmarks/serving_footprint.py

The JSON result is written to --output and is the last line of stdout.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from common import ROOT, Run, argument_parser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SETS = {
    "serving (requirements-serve.txt)": [
        line.strip()
        for line in (ROOT / "requirements-serve.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ],
    "serving runtime only (ai-edge-litert, numpy, pillow; the Lambda path)": [
        "ai-edge-litert", "numpy", "pillow",
    ],
    "tensorflow (what textrec's training install needs for the model)": ["tensorflow", "keras"],
}  # fmt: skip


def closure(requirements: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for sub in dist.requires or []:
            sub_req = Requirement(sub)
            if sub_req.marker is None or sub_req.marker.evaluate({"extra": ""}):
                todo.append(sub_req)
    return seen


def size_mb(name: str) -> float:
    dist = metadata.distribution(name)
    total = 0
    for file in dist.files or []:
        path = Path(dist.locate_file(file))
        if path.is_file():
            total += path.stat().st_size
    return total / 1e6


def main() -> None:
    args = argument_parser("serving_footprint", __doc__).parse_args()
    run = Run("serving_footprint", args.output, args.note)
    result: dict = {}
    for label, requirements in SETS.items():
        names = closure(requirements)
        sizes = {n: round(size_mb(n), 1) for n in sorted(names)}
        result[label] = {
            "packages": len(names),
            "installed_mb": round(sum(sizes.values()), 1),
            "largest": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:6]),
        }
    run.finish(result)


if __name__ == "__main__":
    main()
