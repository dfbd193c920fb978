"""`textrec adapt`: fine-tune a line model (and optionally its LM) on a collection's own lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from textrec_cli.cli_support import DataDir, err, user_errors
from textrec_cli.errors import TextrecError


def register(app: typer.Typer) -> None:
    @app.command("adapt")
    @user_errors
    def adapt(
        lines_dir: Annotated[
            Path,
            typer.Argument(help="Labeled lines: a folder with labels.tsv (file, text[, split])."),
        ],
        output: Annotated[Path, typer.Option(help="Model folder to write (must not hold one).")],
        base: Annotated[
            Path | None,
            typer.Option(help="CTC line model folder to start from (default: the bundled one)."),
        ] = None,
        minutes: Annotated[float, typer.Option(help="Time budget, in --budget minutes.")] = 10.0,
        budget: Annotated[
            str,
            typer.Option(help="cpu: CPU minutes of this process, all threads; wall: elapsed."),
        ] = "cpu",
        lr: Annotated[float, typer.Option(help="Peak learning rate (cosine-decayed).")] = 1e-3,
        batch_size: Annotated[int, typer.Option(help="Lines per step.")] = 8,
        augment: Annotated[float, typer.Option(help="Augmentation strength.")] = 1.2,
        held_back: Annotated[
            float,
            typer.Option(help="Share of lines held back for early stopping (val rows first)."),
        ] = 0.2,
        freeze_frontend: Annotated[
            bool, typer.Option(help="Train only the layers after the convolutional front end.")
        ] = False,
        freeze_norm: Annotated[
            bool,
            typer.Option(help="Keep the base model's BatchNorm statistics (few lines: noisy)."),
        ] = True,
        replay_dir: Annotated[
            list[Path] | None,
            typer.Option(
                help="Line folders (labels.tsv) of the base model's kind of data whose `train` "
                "lines are mixed into every batch so it forgets less; repeatable."
            ),
        ] = None,
        replay: Annotated[
            float, typer.Option(help="--replay-dir: share of each batch drawn from it.")
        ] = 0.5,
        ema: Annotated[
            float, typer.Option(help="Keep an average of the weights with this decay (0: off).")
        ] = 0.99,
        max_steps: Annotated[int | None, typer.Option(help="Stop after this many steps.")] = None,
        seed: int = 0,
        lm_text: Annotated[
            bool,
            typer.Option(
                "--lm-text/--no-lm-text",
                help="Also build RUN/lm: the base LM's text plus these transcriptions.",
            ),
        ] = False,
        lm_lines_dir: Annotated[
            list[Path] | None,
            typer.Option(help="--lm-text: line folders whose train texts join the base text."),
        ] = None,
        lm_share: Annotated[
            float, typer.Option(help="--lm-text: the collection's share of the LM text.")
        ] = 0.03,
        data_dir: DataDir = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the adaptation report as JSON.")
        ] = False,
    ) -> None:
        """Adapt a line model to a new hand from a few labeled lines (50-100 is plenty)."""
        from textrec_cli import settings
        from textrec_cli.models.store import METADATA_FILE, MODEL_FILE
        from textrec_cli.training.adapt import AdaptConfig, adapt_lines, read_lines_folder

        if (output / MODEL_FILE).exists() or (output / METADATA_FILE).exists():
            raise TextrecError(f"{output} already holds a model: choose another --output")
        config = AdaptConfig(
            minutes=minutes, budget=budget, learning_rate=lr, batch_size=batch_size,
            augment=augment, held_back=held_back, max_steps=max_steps,
            freeze_frontend=freeze_frontend, freeze_norm=freeze_norm, replay=replay, ema=ema,
            seed=seed,
        )  # fmt: skip
        config.check()
        base_dir = base or settings.BUNDLED_LINE_MODEL
        height = _model_height(base_dir)
        lines = read_lines_folder(lines_dir, height)
        _, metadata = adapt_lines(lines, base_dir, output, config, replay_dirs=replay_dir or [])
        report = {"output": str(output), **metadata["adaptation"]}
        report.pop("history")
        if lm_text:
            from textrec_cli.training.adapt_lm import LM_DIR, build_adapted_lm

            train_ids = set(lines.ids) - set(report["held_back"])
            collection = [t for t, i in zip(lines.texts, lines.ids, strict=True) if i in train_ids]
            lm_meta = build_adapted_lm(
                collection, output / LM_DIR, metadata["charset"], settings.BUNDLED_LM,
                data_dir or settings.data_dir(), lm_lines_dir or [], lm_share,
            )  # fmt: skip
            report["lm"] = {"path": str(output / LM_DIR), **lm_meta["adapted"]}
        if as_json:
            print(json.dumps(report, ensure_ascii=False))
            return
        added = report["added_chars"]
        err.print(
            f"[green]✓[/green] {output}: held-back CER {report['held_back_cer_base']:.3f} → "
            f"{report['held_back_cer']:.3f} ({report['train_lines']} lines trained, "
            f"{report['held_back_lines']} held back; {report['steps']} steps, "
            f"{report['cpu_minutes']:.1f} CPU min, stopped: {report['stopped']}); "
            + (f"added characters: {''.join(added)!r}" if added else "no characters added")
            + (f"; adapted LM in {report['lm']['path']}" if "lm" in report else ""),
            highlight=False,
        )


def _model_height(model_dir: Path) -> int:
    """The input height from metadata.json, before TensorFlow loads (so bad folders fail fast)."""
    from textrec_cli.errors import InputError
    from textrec_cli.models.store import METADATA_FILE

    try:
        metadata = json.loads((Path(model_dir) / METADATA_FILE).read_text())
        return int(metadata["input_shape"][0])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        raise InputError(f"--base: not a line model folder: {model_dir}") from None
