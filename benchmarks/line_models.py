"""Line recognisers side by side: CER/WER and ms/line of every row on the same line images.

Rows are `--row NAME=SPEC[+lm][@beamK]` (repeatable; any `--row` replaces the default list):
SPEC is whatever `textrec_cli.inference.recognizer.load_reader` takes (a model folder, or
`ensemble:A,B` with folders or bundled model names), or a bundled model name (`line_tcn`);
`+lm` decodes with the bundled character LM (settings.BUNDLED_LM, with lm.json's tuned
lm_weight and shipped beam; `+lm@beamK`: beam and tokens per frame K); `@beamK` alone sets
`reader.beam_width = K`. `--row tesseract` is Tesseract 5 as a reference. Default rows whose
models are missing are skipped with a warning; a missing model in an explicit `--row` is an error.

Datasets: `synthetic_test` (synthetic handwriting, held-out fonts, 500 lines), `copiste_val` and
`htr_united_val` (the real `val` lines under ../shared/data), all stemmed at height 40 by
`line_pairs`; `--limit` caps each. Scoring: corpus CER/WER after `normalize_text` on references
and hypotheses. Tesseract (`--psm 7`, eng+fra) reads the original image files of the real sets
(checked to be the same lines, in the same order, as `line_pairs` gives) and the synthetic stems
written as dark-on-light PNGs with a white margin, one `tesseract` process per line.

Timing is on the copiste_val lines only: width-sorted padded batches of --batch lines (padded to
a multiple of 64 px, as `LineReader.read_stems` does), one untimed warm-up pass, then each
`decode_batch(x)` call is timed (forward + greedy/beam/LM decoding; batch assembly excluded;
`common.time_each`); ms/line = batch time / lines in it, p50/p95 over batches. Plain CTC model
rows (no LM, no beam) are also exported to LiteRT and timed in the serving runtime
(`LineRuntime.read_stems` on the same batches, greedy). Tesseract: wall time of each per-line
call, p50/p95 over lines. `meets_budget`: the LiteRT p50 (else Keras) is at most --budget-ms.
Other jobs skew timings: the machine block records the load average before and after.

Run from the repository root. A full run of the CTC and Tesseract rows takes about 20 minutes on
2 busy cores (Tesseract ~8 of them); attention rows (beam search, n-best rescoring) add more.
This is the one line-model benchmark: it replaced line_accuracy.py (greedy/beam vs Tesseract:
`--row NAME=line_tcn@beam16 --row tesseract`) and line_latency.py (Keras vs LiteRT ms/line).
What an untrained architecture costs to train and run is line_throughput.py's question.

    python benchmarks/line_models.py                     # -> benchmarks/results/line_models.json
    python benchmarks/line_models.py --row tcn=line_tcn --row tcn_lm=line_tcn+lm --limit 100 \\
        --output /tmp/line_models.json

A rich table goes to stderr; the JSON (written atomically) is also the last line of stdout.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TEXTREC_LITERT_THREADS", str(os.cpu_count() or 1))  # batched: all cores
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing warnings: warm-up covers them

import numpy as np  # noqa: E402
from common import LINE_HEIGHT, SHARED, Run, argument_parser, latency, time_each  # noqa: E402
from engines import (  # noqa: E402
    tesseract_available,
    tesseract_languages,
    tesseract_read_lines,
    tesseract_version,
)
from PIL import Image, ImageOps  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from textrec_cli import settings  # noqa: E402
from textrec_cli.data.charsets import LINE_CHARSET, normalize_text, unknown_chars  # noqa: E402
from textrec_cli.data.real_lines import read_labels  # noqa: E402
from textrec_cli.errors import InputError, TextrecError  # noqa: E402
from textrec_cli.evaluation.line_eval import line_pairs  # noqa: E402
from textrec_cli.evaluation.text_metrics import cer, wer  # noqa: E402
from textrec_cli.inference.ensemble import PREFIXES as ENSEMBLE_PREFIXES  # noqa: E402
from textrec_cli.progress import progress_bar, stderr_console  # noqa: E402
from textrec_cli.stems.line import padded_batches  # noqa: E402

SYNTHETIC_LINES = 500
TESSERACT_PSM = 7  # one text line per image
TESSERACT_MARGIN = 10  # px of white around synthetic stems: Tesseract misreads ink at the edge
TIMED_DATASET = "copiste_val"
REAL_VAL = ("copiste_val", "htr_united_val")
TESSERACT = "tesseract"
DEFAULT_ROWS = (
    "crnn=/work/bundle/crnn_run",
    "crnn+lm=/work/bundle/crnn_run+lm",
    "line_tcn=textrec_cli/assets/models/line_tcn",
    "line_tcn+lm=textrec_cli/assets/models/line_tcn+lm",
    "transformer=/work/bundle/tr_run",
    "transformer_beam4=/work/bundle/tr_run@beam4",
    "ensemble_crnn_tcn=ensemble:/work/bundle/crnn_run,line_tcn",
    "ensemble_crnn_tcn+lm=ensemble:/work/bundle/crnn_run,line_tcn+lm",
    "ensemble_tcn_transformer=ensemble:line_tcn,/work/bundle/tr_run",
    "tesseract",
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Keras colours some error messages
ROW_PATTERN = re.compile(r"^(?P<model>.+?)(?P<lm>\+lm)?(?:@beam(?P<beam>\d+))?$")


@dataclass
class Dataset:
    stems: list[np.ndarray]
    refs: list[str]  # normalised
    files: list[Path] | None  # original images (Tesseract's input); None: synthetic stems
    source: str


@dataclass
class RowSpec:
    name: str
    text: str  # as given to --row
    model: str  # load_reader spec, or "tesseract"
    lm: bool
    beam: int

    @property
    def tesseract(self) -> bool:
        return self.model == TESSERACT


def parse_row(item: str) -> RowSpec:
    name, sep, spec = item.partition("=")
    if not sep:
        name, spec = item, item
    match = ROW_PATTERN.match(spec.strip())
    if not name.strip() or match is None:
        raise SystemExit(f"--row {item!r}: expected NAME=SPEC[+lm][@beamK] or 'tesseract'")
    row = RowSpec(name.strip(), item, match["model"], bool(match["lm"]), int(match["beam"] or 0))
    if row.tesseract and (row.lm or row.beam):
        raise SystemExit(f"--row {item!r}: +lm and @beamK do not apply to tesseract")
    if row.beam and not row.lm and row.model.startswith(tuple(ENSEMBLE_PREFIXES)):
        raise SystemExit(f"--row {item!r}: an ensemble ignores @beamK (use +lm@beamK)")
    return row


def model_dir(name: str) -> Path:
    """A model folder, or a bundled model's name (as ensemble members are resolved)."""
    path = Path(name)
    bundled = settings.ASSETS_DIR / "models" / name
    return bundled if not path.exists() and bundled.is_dir() else path


def missing(row: RowSpec) -> str | None:
    """Why the row cannot run (a model folder without model.keras, no tesseract), or None."""
    if row.tesseract:
        return None if tesseract_available() else "tesseract is not installed"
    prefix = next((p for p in ENSEMBLE_PREFIXES if row.model.startswith(p)), None)
    if prefix:
        names = [n.strip() for n in row.model[len(prefix) :].split(",") if n.strip()]
    elif (Path(row.model) / "ensemble.json").is_file():
        return None
    else:
        names = [row.model]
    absent = [n for n in names if not (model_dir(n) / "model.keras").is_file()]
    return f"no trained model at {', '.join(absent)}" if absent else None


def lm_settings(override: float | None) -> dict[str, Any]:
    """The bundled LM's weights; a clear exit when lm.json has no tuned weight and no override."""
    from textrec_cli.decoding.lm import read_lm_meta

    meta = read_lm_meta(settings.BUNDLED_LM)
    if override is None and meta.get("lm_weight") is None:
        raise SystemExit(
            f"{settings.BUNDLED_LM / 'lm.json'} has no tuned lm_weight yet (run `textrec lm "
            "tune`): +lm rows would not measure the shipped decoder. --lm-weight W overrides it "
            "for development runs only."
        )
    return {
        "path": str(settings.BUNDLED_LM),
        "lm_weight": override if override is not None else meta["lm_weight"],
        "lm_weight_source": "--lm-weight override" if override is not None else "lm.json",
        "word_score": meta.get("word_score") or 0.0,
        # lm.json's shipped search, unless a row says @beamK (beam and tokens per frame = K)
        "beam_size": meta.get("beam_size"),
        "beam_size_token": meta.get("beam_size_token"),
    }


def real_line_files(folder: Path, split: str) -> list[tuple[Path, str]]:
    """(original image path, normalised reference) of `split`, filtered and ordered as
    `real_lines.load` does: empty texts and texts with characters outside LINE_CHARSET are
    skipped (unreadable images are handled by `check_same_lines`)."""
    charset = set(LINE_CHARSET)
    pairs = []
    for row in read_labels(folder):
        text = normalize_text(row["text"])
        if not text or unknown_chars(text, charset):
            continue
        if (row.get("split") or "train").strip() == split:
            pairs.append((folder / row["file"], text))
    return pairs


def check_same_lines(files: list[tuple[Path, str]], texts: list[str], name: str) -> list[Path]:
    """The files that match line_pairs' texts one to one, or a loud error if they do not:
    Tesseract reads the files, textrec the stems, and both must read the same lines."""
    if len(files) != len(texts):
        # real_lines also drops images it cannot read: replicate that before giving up.
        from textrec_cli.image_io import load_image

        readable = []
        for path, text in files:
            try:
                load_image(path)
            except InputError:
                continue
            readable.append((path, text))
        files = readable
    if len(files) != len(texts):
        raise TextrecError(
            f"{name}: labels.tsv gives {len(files)} usable lines but line_pairs gave "
            f"{len(texts)}; Tesseract and textrec would not read the same lines"
        )
    mismatch = [
        i for i, ((_, ref), text) in enumerate(zip(files, texts, strict=True)) if ref != text
    ]
    if mismatch:
        raise TextrecError(
            f"{name}: {len(mismatch)} references differ from line_pairs' (first at line "
            f"{mismatch[0]}: {files[mismatch[0]][1]!r} vs {texts[mismatch[0]]!r})"
        )
    return [path for path, _ in files]


def write_stems(stems: list[np.ndarray], folder: Path) -> list[Path]:
    """Stems as dark-on-light PNGs with a white margin, the input Tesseract expects."""
    paths = []
    for i, stem in enumerate(stems):
        image = ImageOps.expand(Image.fromarray(255 - stem), TESSERACT_MARGIN, fill=255)
        paths.append(folder / f"{i:05d}.png")
        image.save(paths[-1])
    return paths


def load_datasets(args: argparse.Namespace) -> dict[str, Dataset]:
    synthetic = min(args.synthetic_lines, args.limit or args.synthetic_lines)
    stems, refs = line_pairs(
        "synthetic_handwriting", "test", args.data_dir, LINE_HEIGHT, fonts_dir=args.fonts_dir,
        limit=synthetic,
    )  # fmt: skip
    sets = {
        "synthetic_test": Dataset(
            stems,
            [normalize_text(r) for r in refs],
            None,
            f"synthetic_handwriting/test (held-out fonts, seed-fixed, {synthetic} lines)",
        )  # fmt: skip
    }
    for name, folder_name in (("copiste_val", "copiste"), ("htr_united_val", "htr_united")):
        folder = args.shared / "data" / folder_name
        stems, refs = line_pairs("real_lines", "val", args.data_dir, LINE_HEIGHT, [folder])
        # The full split is needed to pair it with the original files; both are cut after.
        files = check_same_lines(real_line_files(folder, "val"), refs, name)
        cut = args.limit or len(refs)
        sets[name] = Dataset(
            list(stems[:cut]), [normalize_text(r) for r in refs[:cut]], files[:cut],
            f"real_lines/val of {folder}",
        )  # fmt: skip
    return sets


def scores(refs: list[str], hyps: list[str]) -> dict[str, Any]:
    hyps = [normalize_text(h) for h in hyps]
    return {"cer": round(cer(refs, hyps), 4), "wer": round(wer(refs, hyps), 4), "lines": len(refs)}


def timed_stats(
    seconds: list[float], items: list[int] | int, runtime: str, unit: str, **extra: Any
) -> dict[str, Any]:
    """ms/line p50/p95 of the timed calls, with what was timed."""
    over = f"{len(seconds)} {unit} of {TIMED_DATASET}"
    return {"runtime": runtime, "over": over, **latency(seconds, items), **extra}


def run_batches(
    decode: Callable[[np.ndarray, np.ndarray], list[tuple[str, float]]],
    stems: list[np.ndarray],
    batch: int,
    width_step: int,
    advance: Callable[[int], None],
) -> tuple[list[str], list[float], list[int]]:
    """Hypotheses in input order, and the seconds and lines of each `decode(indices, x)` call."""
    batches = list(padded_batches(stems, batch, width_step))  # assembled before any timing
    results, seconds = time_each(lambda b: decode(*b), batches, advance)
    hyps = [""] * len(stems)
    for (chunk, _), decoded in zip(batches, results, strict=True):
        for i, (text, _) in zip(chunk, decoded, strict=True):
            hyps[i] = text
    return hyps, seconds, [len(chunk) for chunk, _ in batches]


def litert_reader(saved: Any, workdir: Path) -> Callable[..., list[tuple[str, float]]]:
    """Export a saved model to LiteRT and read through the serving runtime (no TensorFlow on
    that path, as the REST API and the Lambda function read)."""
    from textrec_cli.serving.export import export_model
    from textrec_cli.serving.runtime import load_exported

    return load_exported(export_model(saved.path, workdir / saved.metadata["model"])).read_stems


def build_reader(row: RowSpec, lm: dict[str, Any] | None, batch: int) -> tuple[Any, str]:
    """The configured reader and a description of how it decodes."""
    from textrec_cli.decoding.lm import load_lm_decoder
    from textrec_cli.inference.ensemble import EnsembleReader, is_ensemble
    from textrec_cli.inference.line_reader import LineReader
    from textrec_cli.inference.recognizer import load_reader

    spec = row.model if is_ensemble(row.model) else str(model_dir(row.model))
    # lm=False: no row may inherit settings.USE_LM; +lm rows get the LM set explicitly below.
    reader = load_reader(spec, lm=False)
    if not isinstance(reader, LineReader):
        raise TextrecError(f"{row.model} is not a line model")
    if reader.height != LINE_HEIGHT:
        raise TextrecError(f"{row.model} reads lines {reader.height} px high, not {LINE_HEIGHT}")
    reader.batch_size = batch
    ensemble = isinstance(reader, EnsembleReader)
    members = reader.members if ensemble else [reader]
    if row.lm:
        if any(m.attention for m in members):
            raise TextrecError(f"{row.name}: +lm needs CTC posteriors (an attention model)")
        assert lm is not None
        reader.lm = load_lm_decoder(
            lm["path"], reader.charset, lm_weight=lm["lm_weight"],
            **({"beam_size": row.beam, "beam_size_token": row.beam} if row.beam else {}),
        )  # fmt: skip
        kind = "posterior average + " if ensemble else "CTC "
        beam = row.beam or lm["beam_size"]
        return (
            reader,
            f"{kind}LM beam search (beam {beam}, {row.beam or lm['beam_size_token']} tokens/frame)",
        )
    if ensemble:
        if row.beam:  # an ensemble.json folder (parse_row catches `ensemble:` specs)
            raise TextrecError(f"{row.name}: an ensemble ignores @beamK (use +lm@beamK)")
        if any(m.attention for m in members):
            return reader, f"n-best rescoring by every member (nbest {reader.nbest})"
        return reader, "posterior average + greedy (n-best rescoring if frame rates differ)"
    reader.beam_width = row.beam
    kind = "attention" if reader.attention else "CTC"
    return reader, f"{kind} beam {row.beam}" if row.beam > 1 else f"{kind} greedy"


def measure_model(
    row: RowSpec,
    data: dict[str, Dataset],
    args: argparse.Namespace,
    lm: dict[str, Any] | None,
    workdir: Path,
) -> dict[str, Any]:
    from textrec_cli.inference.ensemble import EnsembleReader
    from textrec_cli.inference.line_reader import WIDTH_STEP

    reader, decoding = build_reader(row, lm, args.batch)
    ensemble = isinstance(reader, EnsembleReader)
    members = reader.members if ensemble else [reader]
    # what the LiteRT serving runtime can run: CTC graphs (one model or a posterior average),
    # decoded greedily or with the export's LM at its tuned beam
    litert_ok = (
        not any(m.attention for m in members)
        and (not ensemble or reader.combine == "average")
        and (row.beam <= 1 or row.lm)
    )
    plain_ctc = litert_ok
    timed = data[TIMED_DATASET].stems
    batches = {name: -(-len(d.stems) // args.batch) for name, d in data.items()}
    total = sum(batches.values()) + batches[TIMED_DATASET] * (3 if plain_ctc else 1)
    result: dict[str, Any] = {
        "name": row.name, "spec": row.text, "engine": "textrec", "model": row.model,
        "version": reader.version,
        "params": sum(int(m.saved.model.count_params()) for m in members),
        "decoding": decoding, "datasets": {},
    }  # fmt: skip
    with progress_bar(row.name, total) as advance:

        def keras_decode(chunk: np.ndarray, x: np.ndarray) -> list[tuple[str, float]]:
            return reader.decode_batch(x)

        for name, dataset in data.items():
            if name == TIMED_DATASET:  # warm-up: every batch shape traced/compiled once
                run_batches(keras_decode, timed, args.batch, WIDTH_STEP, advance)
            hyps, seconds, lines = run_batches(
                keras_decode, dataset.stems, args.batch, WIDTH_STEP, advance
            )
            result["datasets"][name] = scores(dataset.refs, hyps)
            if name == TIMED_DATASET:
                result["ms_per_line_keras"] = timed_stats(
                    seconds, lines, "keras", "batches", what="LineReader.decode_batch(x)"
                )
        result["ms_per_line_litert"] = None
        if plain_ctc:
            try:
                if ensemble or row.lm:
                    from textrec_cli.serving.export import export_model
                    from textrec_cli.serving.runtime import load_exported

                    source = row.model if ensemble else str(reader.saved.path)
                    target = workdir / row.name.replace("+", "_")
                    runtime = load_exported(
                        export_model(source, target, lm=lm["path"] if row.lm else None)
                    )
                    if row.lm:
                        runtime.lm = reader.lm  # the same decoder settings as the Keras row
                    read = runtime.read_stems
                else:
                    read = litert_reader(reader.saved, workdir)
            except TextrecError as exc:  # a model the converter refuses: Keras timing only
                result["litert_note"] = f"LiteRT export failed: {exc}"
            else:
                runtime = read.__self__  # type: ignore[attr-defined]
                graphs = "dynamic width" if runtime.dynamic else "fixed-width, 1 line per call"

                def litert_decode(chunk: np.ndarray, x: np.ndarray) -> list[tuple[str, float]]:
                    return read([timed[i] for i in chunk], args.batch)

                run_batches(litert_decode, timed, args.batch, WIDTH_STEP, advance)  # warm-up
                hyps, seconds, lines = run_batches(
                    litert_decode, timed, args.batch, WIDTH_STEP, advance
                )
                result["ms_per_line_litert"] = timed_stats(
                    seconds, lines, "litert", "batches",
                    what=f"LineRuntime.read_stems, {'LM beam' if row.lm else 'greedy'}, {graphs}",
                    cer=scores(data[TIMED_DATASET].refs, hyps)["cer"],
                )  # fmt: skip
        elif any(m.attention for m in members) or ensemble:
            result["litert_note"] = (
                "LiteRT serving runs CTC graphs only (attention decoders and n-best rescoring "
                "are Keras-only)"
            )
        else:
            result["litert_note"] = "LiteRT serving decodes greedily or with the LM, not @beamK"
    return result


def measure_tesseract(row: RowSpec, data: dict[str, Dataset], lang: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": row.name, "spec": row.text, "engine": "tesseract", "model": TESSERACT,
        "version": f"tesseract {tesseract_version()}", "params": None,
        "decoding": f"tesseract --psm {TESSERACT_PSM} -l {lang}", "datasets": {},
    }  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="line_models_") as tmp,
        progress_bar(row.name, sum(len(d.refs) for d in data.values())) as advance,
    ):
        for name, dataset in data.items():
            folder = Path(tmp) / name
            folder.mkdir()
            paths = dataset.files or write_stems(dataset.stems, folder)
            tesseract_read_lines(paths[:1], lang, TESSERACT_PSM, workers=1)  # warm-up: disk cache
            hyps, seconds = time_each(
                lambda path: tesseract_read_lines([path], lang, TESSERACT_PSM, workers=1)[0],
                paths, advance,
            )  # fmt: skip
            result["datasets"][name] = scores(dataset.refs, hyps)
            if name == TIMED_DATASET:
                result["ms_per_line_tesseract"] = timed_stats(
                    seconds, 1, "tesseract", "lines", what="one tesseract process per line image"
                )
    return result


def summarise(row: dict[str, Any], budget: float) -> None:
    """Mean real-val CER, the timing the budget is judged on, and meets_budget."""
    real = [row["datasets"][name]["cer"] for name in REAL_VAL]
    row["mean_real_val_cer"] = round(float(np.mean(real)), 4)
    timing = (
        row.get("ms_per_line_tesseract")
        or row.get("ms_per_line_litert")
        or row.get("ms_per_line_keras")
    )
    row["budget_runtime"] = timing["runtime"]
    row["ms_per_line_p50"] = timing["p50_ms"]
    row["meets_budget"] = timing["p50_ms"] <= budget


def best(rows: list[dict[str, Any]], within_budget: bool) -> dict[str, Any] | None:
    pool = [
        r for r in rows if r["engine"] != TESSERACT and (r["meets_budget"] or not within_budget)
    ]
    if not pool:
        return None
    top = min(pool, key=lambda r: r["mean_real_val_cer"])
    return {
        "row": top["name"], "mean_real_val_cer": top["mean_real_val_cer"],
        "ms_per_line_p50": top["ms_per_line_p50"], "runtime": top["budget_runtime"],
    }  # fmt: skip


def print_table(rows: list[dict[str, Any]], datasets: Sequence[str], budget: float) -> None:
    table = Table(title=f"line models — CER, ms/line on {TIMED_DATASET} (budget {budget:g} ms)")
    timing_column = "keras (tess.) p50/p95"
    columns = ("row", "params", *datasets, "mean real", timing_column, "litert p50/p95", "budget")
    for column in columns:
        table.add_column(column, justify="left" if column == "row" else "right")

    def ms(timing: dict[str, Any] | None) -> str:
        return "-" if timing is None else f"{timing['p50_ms']:.1f} / {timing['p95_ms']:.1f}"

    for row in rows:
        keras = row.get("ms_per_line_keras") or row.get("ms_per_line_tesseract")
        table.add_row(
            row["name"], "-" if row["params"] is None else f"{row['params']:,}",
            *(f"{100 * row['datasets'][d]['cer']:.2f}%" for d in datasets),
            f"{100 * row['mean_real_val_cer']:.2f}%", ms(keras), ms(row.get("ms_per_line_litert")),
            "yes" if row["meets_budget"] else "no",
        )  # fmt: skip
    Console(stderr=True, width=max(stderr_console.width, 150)).print(table)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argument_parser("line_models", __doc__)
    parser.add_argument(
        "--row", action="append", default=[], metavar="NAME=SPEC[+lm][@beamK]",
        help="a row (repeatable; replaces the defaults: " + " ".join(DEFAULT_ROWS) + ")",
    )  # fmt: skip
    parser.add_argument("--limit", type=int, default=None, help="lines per dataset (default all)")
    parser.add_argument("--synthetic-lines", type=int, default=SYNTHETIC_LINES)
    parser.add_argument("--data-dir", type=Path, default=settings.data_dir())
    parser.add_argument("--fonts-dir", type=Path, default=settings.fonts_dir())
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--batch", type=int, default=32, help="lines per batch (as LineReader)")
    parser.add_argument("--budget-ms", type=float, default=10.0, help="p50 ms/line budget")
    parser.add_argument(
        "--lm-weight", type=float, default=None,
        help="override lm.json's tuned lm_weight (development only; recorded in the JSON)",
    )  # fmt: skip
    parser.add_argument("--tesseract-lang", default="auto", help='"auto" = eng+fra if installed')
    args = parser.parse_args(argv)
    run = Run("line_models", args.output, args.note)

    explicit = bool(args.row)
    rows_wanted, skipped = [], []
    for row in map(parse_row, args.row or DEFAULT_ROWS):
        reason = missing(row)
        if reason is None:
            rows_wanted.append(row)
        elif explicit:
            raise SystemExit(f"--row {row.text}: {reason}")
        else:
            stderr_console.print(f"[yellow]skipping default row {row.name}: {reason}[/]")
            skipped.append({"name": row.name, "spec": row.text, "reason": reason})
    if len({r.name for r in rows_wanted}) != len(rows_wanted):
        raise SystemExit("row names must be unique")
    lm = lm_settings(args.lm_weight) if any(r.lm for r in rows_wanted) else None
    lang = args.tesseract_lang
    if lang == "auto":
        lang = "eng+fra" if {"eng", "fra"} <= tesseract_languages() else "eng"

    data = load_datasets(args)
    stderr_console.print(
        "datasets: " + ", ".join(f"{name} {len(d.refs)}" for name, d in data.items()),
        highlight=False,
    )
    rows: list[dict[str, Any]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="line_models_litert_") as workdir:
        for number, row in enumerate(rows_wanted):
            row_started = time.time()
            row_dir = Path(workdir) / str(number)  # its LiteRT export, if any
            row_dir.mkdir()
            try:
                if row.tesseract:
                    result = measure_tesseract(row, data, lang)
                else:
                    result = measure_model(row, data, args, lm, row_dir)
            except Exception as exc:  # one broken row should not cost a long run: record it
                if not isinstance(exc, TextrecError):
                    stderr_console.print_exception()
                message = " ".join(ANSI.sub("", str(exc)).split())[:300]
                reason = f"failed: {type(exc).__name__}: {message}"
                stderr_console.print(f"[red]row {row.name} {reason}[/]", highlight=False)
                skipped.append({"name": row.name, "spec": row.text, "reason": reason})
                failed = True
                continue
            gc.collect()  # the row's models
            summarise(result, args.budget_ms)
            result["seconds"] = round(time.time() - row_started, 1)
            rows.append(result)

    result = {
        "datasets": {
            name: {
                "lines": len(d.refs),
                "source": d.source,
                "tesseract_input": (
                    "original image files"
                    if d.files is not None
                    else "stems inverted to dark-on-light PNGs with a 10 px white margin"
                ),
            }
            for name, d in data.items()
        },
        "settings": {
            "height": LINE_HEIGHT,
            "batch": args.batch,
            "limit": args.limit,
            "budget_ms_per_line_p50": args.budget_ms,
            "timed_dataset": TIMED_DATASET,
            "lm": lm,
            "tesseract": {"version": tesseract_version(), "lang": lang, "psm": TESSERACT_PSM},
        },  # fmt: skip
        "scoring": (
            "corpus CER/WER after normalize_text on refs and hyps; mean_real_val_cer = "
            "unweighted mean of the copiste_val and htr_united_val CERs"
        ),
        "timing": (
            f"{TIMED_DATASET} only. textrec: width-sorted batches of `batch` lines padded to a "
            "multiple of 64 px, one untimed warm-up pass, then each batch call timed (keras: "
            "LineReader.decode_batch = forward + decoding, batch assembly excluded; litert: "
            "LineRuntime.read_stems on the same lines, greedy); ms/line = batch time / lines, "
            "p50/p95 over batches. tesseract: one process per line, p50/p95 over lines. "
            "meets_budget: litert p50 if measured, else keras (tesseract: its own) <= budget"
        ),
        "rows": rows,
        "skipped_rows": skipped,  # default rows with missing models, and rows that failed
        "best_within_budget": best(rows, within_budget=True),
        "best_overall": best(rows, within_budget=False),
        "best_note": "lowest mean_real_val_cer; tesseract (a reference) is never picked",
    }
    print_table(rows, list(data), args.budget_ms)
    result = run.finish(result, litert_threads=int(os.environ["TEXTREC_LITERT_THREADS"]))
    if failed:  # the JSON is written; the exit status still says a row broke
        raise SystemExit("some rows failed: see skipped_rows")
    return result


if __name__ == "__main__":
    main()
