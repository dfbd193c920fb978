"""`textrec export` and `textrec serve`: registered on the main CLI by `register(app)`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from textrec_cli import settings
from textrec_cli.cli_support import err, user_errors
from textrec_cli.errors import TextrecError


def _parse_widths(widths: str | None) -> tuple[int, ...] | None:
    if not widths:
        return None
    try:
        return tuple(int(w) for w in widths.split(","))
    except ValueError:
        raise TextrecError(f"--widths takes comma-separated integers, got {widths!r}") from None


def _export_dirs(models: list[Path] | None) -> list[Path]:
    """Export folders as given; Keras model folders are exported into the cache first."""
    from textrec_cli.decoding.lm import own_lm
    from textrec_cli.serving.export import bundled_exports, cached_export, default_lm

    if not models:
        err.print("serving the bundled models (exported once into the cache)")
        return bundled_exports()
    dirs = []
    for path in models:
        if (path / "metadata.json").is_file() and not (path / "model.keras").is_file():
            dirs.append(path)
        elif (path / "model.keras").is_file():
            err.print(f"{path} is a Keras model: exporting it to LiteRT first")
            own = own_lm(path, None)  # an adapted model's own LM (adapt --lm-text) first
            dirs.append(cached_export(path, lm=own if isinstance(own, Path) else default_lm()))
        else:
            raise TextrecError(f"not a model or export folder: {path}")
    return dirs


def register(app: typer.Typer) -> None:
    """Add the serving commands to the `textrec` app."""

    @app.command("export")
    @user_errors
    def export(
        model: Annotated[Path, typer.Argument(help="Model folder (model.keras + metadata.json).")],
        output: Annotated[
            Path | None, typer.Option(help="Export folder (default exports/MODEL_NAME).")
        ] = None,
        widths: Annotated[
            str | None,
            typer.Option(help="Line models: fixed widths, e.g. 512,1024,1600 (LSTMs need them)."),
        ] = None,
        lm: Annotated[
            bool,
            typer.Option(
                "--lm/--no-lm",
                help="Line models: carry the character LM (the model's own lm/ folder from "
                "`adapt --lm-text` when it has one, else the bundled LM).",
            ),
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the export as JSON.")] = False,
    ) -> None:
        """Convert a model (or a CTC `ensemble:A,B`) to LiteRT + metadata for serving without
        TensorFlow."""
        from textrec_cli.serving.export import export_model

        name = "ensemble" if str(model).startswith("ensemble") else model.resolve().name
        output = output or Path("exports") / name
        from textrec_cli.decoding.lm import own_lm

        carried = own_lm(model, True) if lm else None
        carried = carried if isinstance(carried, Path) else (settings.BUNDLED_LM if lm else None)
        path = export_model(model, output, _parse_widths(widths), carried)
        export_info = json.loads((path / "metadata.json").read_text())["export"]
        if as_json:
            print(json.dumps({"output": str(path), **export_info}))
        else:
            names = ", ".join(f["file"] for f in export_info["files"])
            err.print(f"[green]✓[/green] exported to {path} ({names})")

    @app.command("serve")
    @user_errors
    def serve(
        models: Annotated[
            list[Path] | None,
            typer.Argument(help="Export or model folders, one per task (default: bundled)."),
        ] = None,
        host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port.")] = 8000,
        max_bytes: Annotated[int | None, typer.Option(help="Largest request body.")] = None,
        max_pixels: Annotated[int | None, typer.Option(help="Largest image (w x h).")] = None,
        store: Annotated[
            str | None,
            typer.Option(help="Prediction log: SQLite path or postgresql://… (default SQLite)."),
        ] = None,
        keep_images: Annotated[
            bool, typer.Option(help="Keep request images (size-capped) for labeling.")
        ] = True,
        max_store_mb: Annotated[
            float,
            typer.Option(
                help="Store size budget: past it the oldest images, then rows, are deleted "
                "(0 = none)."
            ),
        ] = settings.STORE_MAX_MB,
        retention_days: Annotated[
            float,
            typer.Option(help="Delete stored images and predictions older than this (0 = never)."),
        ] = settings.STORE_RETENTION_DAYS,
        alert_url: Annotated[str | None, typer.Option(help="Webhook for drift alerts.")] = None,
        alert_file: Annotated[
            Path | None, typer.Option(help="JSON file written on a drift alert.")
        ] = None,
        check_interval: Annotated[
            float, typer.Option(help="Seconds between scheduled drift checks (0 = off).")
        ] = 3600,
        monitor: Annotated[
            bool, typer.Option(help="Log predictions, /metrics and drift checks.")
        ] = True,
    ) -> None:
        """Serve the REST API and web page (FastAPI + uvicorn) on exported LiteRT models."""
        try:
            from textrec_cli.serving.app import create_app, limits_from_env
            from textrec_cli.serving.runtime import ServingRecognizer
            from textrec_cli.serving.server import run_server
        except ImportError as exc:
            raise TextrecError(
                f"serving needs the extra: pip install 'textrec[serve]' ({exc})"
            ) from None
        limits = limits_from_env()
        limits = replace(
            limits,
            max_bytes=max_bytes or limits.max_bytes,
            max_pixels=max_pixels or limits.max_pixels,
        )
        dirs = _export_dirs(models)
        recognizer = ServingRecognizer.from_paths(dirs)
        if monitor:
            from textrec_cli.monitoring.observer import server_monitoring
            from textrec_cli.monitoring.store import ImagePolicy

            references = [d for d in dirs if (d / "reference.json").is_file()]
            policy = ImagePolicy(
                keep=keep_images, max_store_mb=max_store_mb, retention_days=retention_days
            )
            monitoring = server_monitoring(
                store,
                references,
                source="rest",
                alert_file=alert_file,
                webhook_url=alert_url,
                policy=policy,
            )
            monitoring.observer.store.prune_in_background()  # a store left past its limits
            app = create_app(recognizer, limits, observers=[monitoring.observer])
            monitoring.mount(app)
            if check_interval > 0:
                for check in monitoring.drift_checks:
                    check.start_background(check_interval)
            if not references:
                err.print("no reference.json beside the models: drift checks are off")
        else:
            app = create_app(recognizer, limits)
        err.print(f"serving {', '.join(recognizer.models)} on http://{host}:{port}/")
        run_server(app, host, port)
