"""CER on a hand the base model never saw, against how many of its lines `textrec adapt` used.

Hands: each writer/document of the shared `val` splits with at least --min-lines lines
(htr_united: by writer; htr_united_more: by manuscript; copiste: by page). Each hand's lines are
shuffled once (seeded); the first k adapt the bundled line model (`adapt_lines`, the code of
`textrec adapt`, with a --minutes budget in --budget minutes), and the same lines after the
largest k are scored every time (at least --min-score of them): greedy, with the bundled LM,
and with the LM adapted on the k lines' texts (bundled sources + the k texts, `build_adapted_lm`).
k runs over --points, capped at "all but --min-score" for a small document. Replay lines are
the `train` rows of the three collections (a val hand is never in them); `--set FIELD=VALUE`
changes one AdaptConfig setting (e.g. `--set replay=0` to measure without replay).

    python benchmarks/adaptation.py --hands veuillot,genlis,diderot --points 10,25,50 --minutes 4

Hands side by side (one process each, then one result):

    for h in veuillot genlis diderot poilus copiste:; do python benchmarks/adaptation.py \
        --hands $h --points 50 --set threads=1 --output /tmp/ad_${h%:}.json & done; wait
    python benchmarks/adaptation.py --merge /tmp/ad_*.json

Writes benchmarks/results/adaptation.json (after every point, so a cut-short run keeps what it
measured) and adaptation.png (CER vs lines used, one line per hand).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from common import SHARED, Run, argument_parser  # noqa: E402

from textrec_cli.fileio import atomic_path  # noqa: E402

# collection, the labels.tsv column that names a hand, whether the bundled model trained on it
COLLECTIONS = {
    "htr_united": ("writer", True),
    "htr_united_more": ("writer", False),
    "copiste": ("page", True),
}
# Peraire's pages are split by page, but all are one writer, whose other pages are in train
SEEN_WRITERS = ("peraire/",)


def find_hands(min_lines: int) -> list[dict[str, Any]]:
    """Every val hand with >= min_lines lines: {id, collection, folder, rows, base_saw_writer}."""
    from textrec_cli.data.real_lines import read_labels

    hands = []
    for name, (column, _) in COLLECTIONS.items():
        folder = SHARED / "data" / name
        groups: dict[str, list[dict[str, str]]] = {}
        for row in read_labels(folder):
            if (row.get("split") or "").strip() == "val":
                groups.setdefault(row[column], []).append(row)
        for hand, rows in sorted(groups.items()):
            if len(rows) >= min_lines:
                hands.append({
                    "id": f"{name}:{hand}", "collection": name, "folder": folder, "rows": rows,
                    "base_saw_writer": hand.startswith(SEEN_WRITERS),
                })  # fmt: skip
    return hands


def load_hand(hand: dict[str, Any], height: int, seed: int):
    """The hand's lines, stemmed, in a seeded shuffled order (a LabeledLines)."""
    from textrec_cli.data.charsets import normalize_text
    from textrec_cli.image_io import load_image
    from textrec_cli.stems.line import line_stem
    from textrec_cli.training.adapt import LabeledLines

    rows = hand["rows"]
    order = np.random.default_rng(seed).permutation(len(rows))
    images, texts, ids = [], [], []
    for i in order:
        text = normalize_text(rows[i]["text"])
        if text:
            images.append(line_stem(load_image(hand["folder"] / rows[i]["file"]), height))
            texts.append(text)
            ids.append(rows[i]["file"])
    return LabeledLines(images, texts, ids)


def score(model: Any, metadata: dict, images: list, texts: list[str], lms: dict[str, Path]):
    """CER greedy and with each LM folder in `lms`, from one forward pass."""
    from textrec_cli.decoding.greedy import greedy_decode
    from textrec_cli.decoding.lm import load_lm_decoder
    from textrec_cli.evaluation.text_metrics import cer
    from textrec_cli.inference.line_reader import LineReader
    from textrec_cli.language.tune import posteriors
    from textrec_cli.models.store import SavedModel

    reader = LineReader(SavedModel(model, metadata, Path(".")), batch_size=32)
    frames = posteriors(reader, images)
    out = {"cer_greedy": cer(texts, [greedy_decode(f[None], reader.charset)[0][0] for f in frames])}
    for name, lm_dir in lms.items():
        decoder = load_lm_decoder(lm_dir, reader.charset)
        out[f"cer_{name}"] = cer(texts, [decoder.decode(f[None])[0][0] for f in frames])
    return {k: round(v, 4) for k, v in out.items()}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_hand(
    hand: dict, args: argparse.Namespace, base_sources: dict, result: dict, run: Run
) -> dict:
    import keras

    from textrec_cli import settings
    from textrec_cli.models.store import load_model
    from textrec_cli.training.adapt import AdaptConfig, LabeledLines, adapt_lines
    from textrec_cli.training.adapt_lm import build_adapted_lm

    base = load_model(args.base)
    lines = load_hand(hand, int(base.metadata["input_shape"][0]), args.seed)
    n = len(lines.texts)
    points = sorted({min(k, n - args.min_score) for k in args.points if n - args.min_score >= 1})
    points = [k for k in points if k >= 5]  # adapt refuses fewer (nothing to hold back)
    scored = slice(max(points, default=0), n)
    score_images, score_texts = lines.images[scored], lines.texts[scored]
    lms = {"bundled_lm": settings.BUNDLED_LM}
    entry: dict[str, Any] = {
        "hand": hand["id"], "lines": n, "scored_lines": len(score_texts),
        "base_saw_writer": hand["base_saw_writer"],
        "base": score(base.model, base.metadata, score_images, score_texts, lms),
        "points": [],
    }  # fmt: skip
    result["hands"].append(entry)
    print(f"{hand['id']}: {n} lines, scoring {len(score_texts)}; base {entry['base']}", flush=True)
    for k in points:
        keras.backend.clear_session()
        subset = LabeledLines(lines.images[:k], lines.texts[:k], lines.ids[:k])
        config = AdaptConfig(
            minutes=args.minutes, budget=args.budget, freeze_frontend=args.freeze_frontend,
            seed=args.seed, **args.overrides,
        )  # fmt: skip
        replay_dirs = [SHARED / "data" / name for name in COLLECTIONS]  # val hands: never in train
        model, metadata = adapt_lines(subset, args.base, None, config,
                                      show_progress=args.progress,
                                      replay_dirs=replay_dirs)  # fmt: skip
        adaptation = metadata["adaptation"]
        point: dict[str, Any] = {
            "lines_used": k,
            "cpu_minutes": adaptation["cpu_minutes"],
            "wall_minutes": adaptation["wall_minutes"],
            "steps": adaptation["steps"],
            "best_step": adaptation["best_step"],
            "stopped": adaptation["stopped"],
            "held_back_cer": [adaptation["held_back_cer_base"], adaptation["held_back_cer"]],
            "added_chars": adaptation["added_chars"],
            "replay_lines": adaptation["replay_lines"],
            "history": adaptation["history"],  # held-back CER and loss every eval_every steps
        }
        point_lms = dict(lms)
        if args.lm:
            with tempfile.TemporaryDirectory(prefix="adapt-lm-") as tmp:
                cpu0, wall0 = children_cpu() + time.process_time(), time.monotonic()
                build_adapted_lm(subset.texts, Path(tmp), metadata["charset"], settings.BUNDLED_LM,
                                 share=args.lm_share, base_sources=base_sources,
                                 show_progress=False)  # fmt: skip
                point["lm_build_cpu_minutes"] = round(
                    (children_cpu() + time.process_time() - cpu0) / 60, 3
                )
                point["lm_build_wall_minutes"] = round((time.monotonic() - wall0) / 60, 3)
                point_lms["adapted_lm"] = Path(tmp)
                point.update(score(model, metadata, score_images, score_texts, point_lms))
        else:
            point.update(score(model, metadata, score_images, score_texts, point_lms))
        for key in [k for k in point if k.startswith("cer_")]:
            # the adapted LM is compared with the base model read with the bundled LM
            base_value = entry["base"].get(key.replace("adapted_lm", "bundled_lm"))
            if base_value:
                point[f"rel_drop_{key[4:]}"] = round(1 - point[key] / base_value, 4)
        entry["points"].append(point)
        print(f"  {k} lines: {point}", flush=True)
        run.save(result)
    return entry


def summarise(result: dict[str, Any], target_lines: int, min_score: int) -> dict[str, Any]:
    """Mean relative CER drop per number of lines, and the issue's target: with
    min(target_lines, all but min_score) lines, a >= 30% mean drop (greedy) over the hands."""
    by_k: dict[int, list[float]] = {}
    target: list[float] = []
    target_lm: list[float] = []
    for entry in result["hands"]:
        points = entry["points"]
        for p in points:
            by_k.setdefault(p["lines_used"], []).append(p["rel_drop_greedy"])
        at = [p for p in points if p["lines_used"] == min(target_lines, entry["lines"] - min_score)]
        if at:
            target.append(at[0]["rel_drop_greedy"])
            if "rel_drop_adapted_lm" in at[0]:
                target_lm.append(at[0]["rel_drop_adapted_lm"])
    summary: dict[str, Any] = {
        "mean_rel_drop_greedy_by_lines": {
            str(k): round(float(np.mean(v)), 4) for k, v in sorted(by_k.items())
        },
        "target": f"mean greedy CER drop >= 30% with min({target_lines}, all but 20) lines",
        "target_hands": len(target),
        "target_mean_rel_drop": round(float(np.mean(target)), 4) if target else None,
        # adapted model + adapted LM against the base model + bundled LM
        "target_mean_rel_drop_adapted_lm": (
            round(float(np.mean(target_lm)), 4) if len(target_lm) == len(target) else None
        ),
    }
    summary["target_met"] = bool(target) and summary["target_mean_rel_drop"] >= 0.30
    return summary


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, entry in enumerate(result["hands"]):
        color = f"C{i}"
        xs = [0] + [p["lines_used"] for p in entry["points"]]
        label = entry["hand"].split(":", 1)[1]
        ax.plot(xs, [entry["base"]["cer_greedy"]] + [p["cer_greedy"] for p in entry["points"]],
                marker="o", color=color, label=f"{label} (greedy)")  # fmt: skip
        lm = [p.get("cer_adapted_lm") for p in entry["points"]]
        if all(v is not None for v in lm) and lm:
            ax.plot(xs, [entry["base"]["cer_bundled_lm"]] + lm, marker="x", ls="--", color=color,
                    label=f"{label} (adapted LM)")  # fmt: skip
    ax.set_xlabel("lines of the hand used to adapt (0 = bundled model)")
    ax.set_ylabel("CER on the hand's other lines")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"textrec adapt, <= {result['config']['minutes']:g} {result['config']['budget']} "
                 "minutes per point")  # fmt: skip
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")


def main() -> None:
    parser = argument_parser("adaptation", __doc__)
    parser.add_argument("--hands", default="", help="Substrings of hand ids to run (default all).")
    parser.add_argument("--points", default="10,25,50,100")
    parser.add_argument(
        "--base", type=Path, default=None, help="Line model to adapt (default: the bundled one)."
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="Budget per point.")
    parser.add_argument("--budget", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--min-lines", type=int, default=30)
    parser.add_argument("--min-score", type=int, default=20)
    parser.add_argument("--freeze-frontend", action="store_true")
    parser.add_argument("--no-lm", dest="lm", action="store_false")
    parser.add_argument("--lm-share", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action="store_true", help="Show adapt's progress bar.")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
        help="An AdaptConfig field other than the defaults (e.g. replay=0.5), repeatable.",
    )  # fmt: skip
    parser.add_argument(
        "--merge", type=Path, nargs="+", help="Only combine these result files into --output."
    )
    args = parser.parse_args()
    run = Run("adaptation", args.output, args.note)
    if args.merge:
        merge(args.merge, run, args.min_score)
        return
    args.points = sorted(int(k) for k in args.points.split(","))
    args.overrides = config_overrides(args.overrides)
    from textrec_cli.language.char_lm import lm_training_sources
    from textrec_cli.settings import BUNDLED_LINE_MODEL

    args.base = args.base or BUNDLED_LINE_MODEL

    hands = find_hands(args.min_lines)
    wanted = [h.strip() for h in args.hands.split(",") if h.strip()]
    if wanted:
        hands = [h for h in hands if any(w in h["id"] for w in wanted)]
    if not hands:
        sys.exit(f"no hand matches {args.hands!r} with >= {args.min_lines} val lines")
    charset = json_charset(args.base)
    base_sources = {}
    if args.lm:  # what the bundled LM was built from: corpora + the collections' train texts
        os.environ.setdefault("TEXTREC_CORPUS_DIR", str(SHARED / "corpus"))
        base_sources = lm_training_sources(
            None, [SHARED / "data" / name for name in COLLECTIONS], charset=charset
        )
    result: dict[str, Any] = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "all_hands": {h["id"]: len(h["rows"]) for h in find_hands(args.min_lines)},
        "base_model": model_identity(args.base),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hands": [],
    }
    for hand in hands:
        run_hand(hand, args, base_sources, result, run)
        result["summary"] = summarise(result, 50, args.min_score)
        run.save(result)
        plot(result, args.output.with_suffix(".png"))
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    run.finish(result)


def merge(paths: list[Path], run: Run, min_score: int) -> None:
    """One result from runs made apart (e.g. side by side on other hands): hands concatenated,
    every run's command and config kept, the summary and plot recomputed."""
    runs = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    result = {
        **runs[0],
        "runs": [
            {k: r.get(k) for k in ("command", "config", "machine", "started", "finished")}
            for r in runs
        ],  # fmt: skip
        "hands": [entry for r in runs for entry in r["hands"]],
    }
    for key in ("command", "config", "started", "finished"):
        result.pop(key, None)
    result["config"] = {"minutes": runs[0]["config"]["minutes"],
                        "budget": runs[0]["config"]["budget"]}  # fmt: skip
    result["summary"] = summarise(result, 50, min_score)
    for key in ("benchmark", "created", "seconds", "machine"):  # the merge's own, from `run`
        result.pop(key, None)
    run.finish(result)
    plot(result, run.output.with_suffix(".png"))


def config_overrides(pairs: list[str]) -> dict[str, Any]:
    """--set FIELD=VALUE pairs as AdaptConfig keywords, each value cast to the field's type."""
    from dataclasses import fields

    from textrec_cli.training.adapt import AdaptConfig

    types = {f.name: type(getattr(AdaptConfig(), f.name)) for f in fields(AdaptConfig)}
    out: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in types:
            sys.exit(f"--set {pair}: AdaptConfig has no field {name!r}")
        kind = int if types[name] is type(None) else types[name]
        out[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def model_identity(model_dir: Path) -> dict[str, Any]:
    """Which model (and bundled LM decoding settings) a result was measured on: a bundle keeps
    its version name when a newer checkpoint is promoted on the same day, the sha256 does not."""
    from textrec_cli.fileio import sha256_file
    from textrec_cli.settings import BUNDLED_LM

    metadata = json.loads((Path(model_dir) / "metadata.json").read_text(encoding="utf-8"))
    lm = json.loads((BUNDLED_LM / "lm.json").read_text(encoding="utf-8"))
    return {
        "path": str(model_dir), "version": metadata.get("version"),
        "created": metadata.get("created"),
        "model_sha256": sha256_file(Path(model_dir) / "model.keras"),
        "bundled_lm": {k: lm.get(k) for k in ("lm_weight", "word_score", "beam_size")},
        "bundled_lm_sha256": sha256_file(BUNDLED_LM / "char_lm.binary"),
    }  # fmt: skip


def json_charset(model_dir: Path) -> list[str]:
    return json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))["charset"]


if __name__ == "__main__":
    main()
