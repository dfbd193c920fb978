"""`textrec forms make|read`: registered on the main CLI by `register(app)`."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated

import typer

from textrec_cli.cli_support import err, user_errors
from textrec_cli.errors import InputError, TextrecError
from textrec_cli.progress import progress_bar

forms_app = typer.Typer(
    name="forms",
    help="Paper forms, IAM style: print prompts to copy, read the filled scans.",
    no_args_is_help=True,
)


def _need_zxing() -> None:
    import importlib.util

    if importlib.util.find_spec("zxingcpp") is None:
        raise TextrecError("forms need the QR library: pip install 'textrec[forms]'")


@forms_app.command("make")
@user_errors
def make(
    count: Annotated[int, typer.Option(help="Forms to print (one A4 page each).")] = 10,
    output: Annotated[Path, typer.Option("--output", "-o", help="The PDF to write.")] = Path(
        "forms.pdf"
    ),
    seed: Annotated[int, typer.Option(help="Prompt draw; forms of one seed never repeat.")] = 0,
    first: Annotated[int, typer.Option(help="Index of the first form (print more later).")] = 0,
    lang: Annotated[str, typer.Option(help="Prompt language: en (corpus) or fr.")] = "en",
    prompts: Annotated[int, typer.Option(help="Prompt lines per form (1-6).")] = 5,
    licence: Annotated[
        str, typer.Option(help="Licence writers agree to: cc-by-4.0 or cc0-1.0.")
    ] = "cc-by-4.0",
    corpus: Annotated[
        Path | None, typer.Option(help="Corpus folder (default: textrec's corpus search).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Summary as JSON on stdout.")] = False,
) -> None:
    """Write a printable PDF of forms and, beside it, a JSON manifest of their prompts."""
    _need_zxing()
    from textrec_cli.forms.make import check_pdf_path, make_forms, manifest_path, plan_forms

    check_pdf_path(output)
    forms = plan_forms(count, seed, lang, licence, prompts, corpus, first)
    with progress_bar("drawing forms", len(forms), enabled=not as_json) as advance:
        make_forms(forms, output, advance)
    summary = {
        "pdf": str(output),
        "manifest": str(manifest_path(output)),
        "forms": len(forms),
        "ids": [f.id.label for f in forms],
    }
    if as_json:
        print(json.dumps(summary))
    else:
        err.print(
            f"[green]✓[/green] {len(forms)} forms: {output} (prompts in {summary['manifest']})",
            highlight=False,
        )


@forms_app.command("read")
@user_errors
def read(
    scans: Annotated[list[Path], typer.Argument(help="Photos or scans of filled forms.")],
    manifest: Annotated[
        Path | None,
        typer.Option(help="The JSON `forms make` wrote (default: re-draw prompts from the id)."),
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="SQLite path or postgresql:// URL (default: the monitor's).")
    ] = None,
    writer_id: Annotated[
        str | None,
        typer.Option(help="Pseudonymous writer id (default none: one form = one writer)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Read and align, store nothing.")] = False,
    corpus: Annotated[Path | None, typer.Option(help="Corpus folder to re-draw prompts.")] = None,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
) -> None:
    """Find each form's id, read its handwritten lines, store each with the prompt it copies.

    A JSON summary goes to stdout; a scan that fails is named in it and the exit status is 2.
    """
    _need_zxing()
    from textrec_cli.forms.read import PromptBook, load_models, read_form, store_reading
    from textrec_cli.image_io import load_image

    if writer_id is not None:
        from textrec_cli.monitoring.store import WRITER_ID

        if not WRITER_ID.fullmatch(writer_id):
            raise InputError("--writer-id must be a pseudonym: letters, digits, _ . - (no e-mail)")
    book = PromptBook(manifest, corpus)
    models = load_models()
    target = None
    if not dry_run:
        from textrec_cli.monitoring.store import open_store

        target = open_store(store)
    results, failures = [], []
    with (
        target if target is not None else contextlib.nullcontext(),
        progress_bar("reading forms", len(scans), enabled=progress) as advance,
    ):
        for scan in scans:
            try:
                reading = read_form(load_image(scan), book, models)
                ids = store_reading(target, reading, writer_id) if target is not None else []
                results.append({"scan": str(scan), **reading.summary(), "stored": ids})
            except InputError as exc:
                message = str(exc).removeprefix(f"{scan}: ")
                failures.append({"scan": str(scan), "error": message})
            advance(1)
    lines = sum(r["matched"] for r in results)
    summary = {
        "forms": len(results),
        "failed": len(failures),
        "lines_stored": 0 if dry_run else lines,
        "lines_matched": lines,
        "model": models.version,
        "results": results,
        "failures": failures,
    }
    print(json.dumps(summary, ensure_ascii=False))
    for failure in failures:
        err.print(
            f"[bold red]error:[/bold red] {failure['scan']}: {failure['error']}",
            highlight=False,
            soft_wrap=True,
        )
    if failures:
        raise typer.Exit(InputError.exit_code)


def register(app: typer.Typer) -> None:
    app.add_typer(forms_app, name="forms")
