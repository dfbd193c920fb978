"""`textrec lm build`: the character language model that CTC beam search reads lines with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from textrec_cli.cli_support import DataDir, err, user_errors
from textrec_cli.errors import TextrecError
from textrec_cli.language.char_lm import DEFAULT_ORDER, DEFAULT_PRUNE, MAX_ORDER


def _parse_prune(prune: str) -> list[int]:
    try:
        return [int(p) for p in prune.replace(",", " ").split()]
    except ValueError:
        raise TextrecError(f"--prune takes counts like 0,0,0,0,0,1, got {prune!r}") from None


def _parse_licences(items: list[str]) -> dict[str, str]:
    """`--licence lines:copiste=CC-BY-4.0` (or `copiste=...`) → {"lines:copiste": "CC-BY-4.0"}."""
    out = {}
    for item in items:
        name, sep, licence = item.partition("=")
        if not sep or not name.strip() or not licence.strip():
            raise TextrecError(f"--licence takes SOURCE=LICENCE (copiste=CC-BY-4.0), got {item!r}")
        out[name.strip()] = licence.strip()
    return out


def register(app: typer.Typer) -> None:
    lm_app = typer.Typer(
        help="Character language model (KenLM) for CTC beam search.", no_args_is_help=True
    )
    app.add_typer(lm_app, name="lm")
    register_tune(lm_app)

    @lm_app.command("build")
    @user_errors
    def build(
        output: Annotated[
            Path, typer.Option(help="Folder to write char_lm.binary and lm.json into.")
        ],
        lines_dir: Annotated[
            list[Path] | None,
            typer.Option(help="Line folder with labels.tsv: its train texts too (repeatable)."),
        ] = None,
        text: Annotated[
            list[Path] | None,
            typer.Option(help="UTF-8 text file, one line of text per line (repeatable)."),
        ] = None,
        corpus: Annotated[
            bool,
            typer.Option(
                "--corpus/--no-corpus",
                help="Include the openly licensed English corpora (public domain; "
                "$TEXTREC_CORPORA names others, e.g. the non-commercial brown).",
            ),
        ] = True,
        licence: Annotated[
            list[str] | None,
            typer.Option(
                help="SOURCE=LICENCE for a --lines-dir or --text source, recorded in lm.json "
                "(e.g. copiste=CC-BY-4.0; repeatable). Corpora carry their own.",
            ),
        ] = None,
        attribution: Annotated[
            list[str] | None,
            typer.Option(help="Attribution its CC BY sources require, for lm.json (repeatable)."),
        ] = None,
        order: Annotated[
            int, typer.Option(help=f"N-gram order (characters), 2..{MAX_ORDER}.")
        ] = DEFAULT_ORDER,
        prune: Annotated[
            str,
            typer.Option(help="Drop n-grams seen at most this often, per order (0 = keep)."),
        ] = ",".join(map(str, DEFAULT_PRUNE)),
        data_dir: DataDir = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print lm.json on stdout.")] = False,
    ) -> None:
        """Estimate a pruned character n-gram LM from corpus text and train transcriptions."""
        from textrec_cli.language.char_lm import build_char_lm, check_order, lm_training_sources

        prune_counts = check_order(order, _parse_prune(prune))
        licences = _parse_licences(licence or [])
        sources = lm_training_sources(data_dir, lines_dir or [], text or [], use_corpus=corpus)
        meta_path = build_char_lm(
            sources,
            output,
            order=order,
            prune=prune_counts,
            licences=licences,
            attribution=attribution or [],
        )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if as_json:
            print(json.dumps(meta, ensure_ascii=False))
            return
        counts = ", ".join(f"{n}-grams {c:,}" for n, c in meta["ngram_counts"].items())
        err.print(
            f"[green]✓[/green] {order}-gram char LM ({meta['size_bytes'] / 1e6:.1f} MB; {counts}) "
            f"from {meta['lines']:,} lines in {output} (licence: {meta['licence']}); "
            "tune its lm_weight before use",
            highlight=False,
        )


def register_tune(lm_app: typer.Typer) -> None:
    @lm_app.command("tune")
    @user_errors
    def tune(
        lm_dir: Annotated[Path, typer.Argument(help="LM folder (char_lm.binary + lm.json).")],
        model: Annotated[
            Path | None, typer.Option(help="CTC line model (default: the bundled one).")
        ] = None,
        lines_dir: Annotated[
            list[Path] | None,
            typer.Option(help="Line folder with labels.tsv; its val split is used (repeatable)."),
        ] = None,
        limit: Annotated[
            int | None, typer.Option(help="At most this many lines per folder.")
        ] = None,
        beam_size: Annotated[
            int, typer.Option(help="Beam (and tokens per frame) the grid is searched at.")
        ] = 16,
        decode_beam: Annotated[
            int | None,
            typer.Option(help="Beam lm.json sets for decoding (default: --beam-size)."),
        ] = None,
        data_dir: DataDir = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the grid as JSON.")] = False,
    ) -> None:
        """Pick lm_weight and word_score on the val lines (CER); writes them into lm.json."""
        from textrec_cli import settings
        from textrec_cli.evaluation.line_eval import line_pairs
        from textrec_cli.inference.line_reader import LineReader
        from textrec_cli.inference.recognizer import load_reader
        from textrec_cli.language.tune import tune_lm

        if not lines_dir:
            raise TextrecError("--lines-dir: at least one line folder with a val split")
        if beam_size < 1 or (decode_beam is not None and decode_beam < 1):
            raise TextrecError("--beam-size and --decode-beam must be positive")
        reader = load_reader(model or settings.BUNDLED_LINE_MODEL)
        if not isinstance(reader, LineReader):
            raise TextrecError(f"{model} is not a line model")
        sets = {
            folder.name: line_pairs(
                "real_lines",
                "val",
                data_dir or settings.data_dir(),
                reader.height,
                [folder],
                limit=limit,
            )
            for folder in lines_dir
        }
        result = tune_lm(
            reader,
            lm_dir,
            sets,
            beam_size=beam_size,
            beam_size_token=beam_size,
            decode_beam=decode_beam,
        )
        if as_json:
            print(json.dumps(result))
        else:
            err.print(
                f"[green]✓[/green] {lm_dir}/lm.json: {result['best']}; "
                f"at the decoding beam: {result['decoded']}"
            )
