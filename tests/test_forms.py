"""Paper forms: `forms make` -> synthetic filling -> crooked photo -> `forms read` -> the store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli
from PIL import Image

from textrec_cli.errors import InputError
from textrec_cli.forms import layout
from textrec_cli.forms.align import align
from textrec_cli.forms.make import Form, plan_forms, render_form
from textrec_cli.forms.read import PromptBook
from textrec_cli.forms.rectify import locate


@pytest.fixture
def made(workdir: Path, shared_corpus: Path) -> tuple[Path, dict]:
    result = run_cli("forms", "make", "--count", "2", "--seed", "7", "-o", "forms.pdf", "--json")
    assert result.exit_code == 0, result.stderr
    return workdir / "forms.pdf", json.loads(result.stdout)


def _page_png(form: Form, path: Path) -> Path:
    render_form(form).save(path)
    return path


def test_make_writes_a4_pdf_and_manifest_that_redraw_agrees_with(made, shared_corpus) -> None:
    pdf, summary = made
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page\n") == 2
    assert data.count(b"MediaBox [ 0 0 595.2 841.92 ]") == 2  # A4 in points
    manifest = json.loads(pdf.with_suffix(".json").read_text())["forms"]
    assert [v["label"] for v in manifest.values()] == summary["ids"]
    forms = plan_forms(2, seed=7, corpus=shared_corpus)
    book = PromptBook(corpus=shared_corpus)  # no manifest: prompts re-drawn from the id alone
    for form in forms:
        assert manifest[form.id.payload]["prompts"] == form.prompts == book.prompts(form.id)
        assert len(set(form.prompts)) == 5 and any(c.isdigit() for c in "".join(form.prompts))
    assert plan_forms(1, seed=8, corpus=shared_corpus)[0].prompts != forms[0].prompts


def test_make_refuses_bad_options(workdir: Path) -> None:
    for args, says in (
        (["--count", "0"], "--count"),
        (["--prompts", "9"], "1 to 6 prompts"),
        (["--lang", "de"], "--lang"),
        (["-o", "forms.png"], ".pdf"),
        (["--seed", "-1"], "--seed"),
        (["--first", "999999"], "--first"),
    ):
        result = run_cli("forms", "make", "--lang", "fr", *args)
        assert result.exit_code != 0 and says in result.stderr, (args, result.stderr)
    assert not list(workdir.iterdir())


def test_upside_down_scan_is_rectified_exactly() -> None:
    form = plan_forms(1, seed=3, lang="fr")[0]
    page = np.asarray(render_form(form), dtype=np.float32)
    located = locate(np.rot90(page, 2))
    assert located.payload == form.id.payload and located.marks_found == 4
    assert np.abs(located.page - page).mean() < 1.0


def test_round_trip_crooked_photo_to_store(workdir, shared_fonts, shared_corpus) -> None:
    from textrec_cli.forms.synthetic import fill_form, photograph, writing_fonts
    from textrec_cli.monitoring.store import open_store

    form = plan_forms(1, seed=7, prompts=3, corpus=shared_corpus)[0]
    rng = np.random.default_rng(5)
    page, _ = fill_form(form, writing_fonts(shared_fonts), rng)
    Path("photo.jpg").write_bytes(photograph(page, rng))
    # no --manifest: the prompts are re-drawn from the id (and checked against its digest)
    result = run_cli("forms", "read", "photo.jpg", "--store", "store.sqlite", "--no-progress")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    [reading] = summary["results"]
    assert reading["form_id"] == form.id.label and reading["marks_found"] == 4
    pairs = {line["prompt_index"]: line["prompt"] for line in reading["lines"]}
    assert len(pairs) >= 2  # at least 2 of the 3 lines recovered, none paired wrongly
    assert all(form.prompts[i] == prompt for i, prompt in pairs.items())
    with open_store("store.sqlite") as store:
        stored = store.contributions(with_images=True)
    assert [c.id for c in stored] == reading["stored"] and len(stored) == len(pairs)
    for item in stored:
        assert (item.kind, item.form_id, item.licence) == ("form", form.id.label, "CC-BY-4.0")
        assert item.writer_id is None and item.prompt in form.prompts
        crop = Image.open(io.BytesIO(item.png))
        assert crop.mode == "L" and crop.width > 4 * crop.height  # a line, not a page


def test_read_errors_are_named_per_scan(made, workdir: Path, shared_corpus: Path) -> None:
    import zxingcpp  # textrec[forms], part of the dev extra: missing = a failure, not a skip

    pdf, _ = made
    Path("garbage.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    Image.new("L", (600, 800), 255).save("blank.png")
    foreign = zxingcpp.create_barcode("https://example.org", zxingcpp.BarcodeFormat.QRCode)
    Image.fromarray(np.asarray(foreign.to_image(scale=8))).save("foreign.png")
    other = plan_forms(1, seed=99, corpus=shared_corpus)[0]  # not in this manifest
    _page_png(other, workdir / "other.png")
    scans = ["garbage.png", "blank.png", "foreign.png", "other.png", "missing.png"]
    result = run_cli(
        "forms", "read", *scans, "--manifest", pdf.with_suffix(".json"), "--dry-run",
        "--no-progress",
    )  # fmt: skip
    assert result.exit_code == InputError.exit_code
    summary = json.loads(result.stdout)
    errors = {f["scan"]: f["error"] for f in summary["failures"]}
    assert summary["forms"] == 0 and set(errors) == set(scans)
    assert "not an image" in errors["garbage.png"] or "corrupt" in errors["garbage.png"]
    assert "no form id found" in errors["blank.png"]
    assert "not a textrec form id" in errors["foreign.png"]
    assert "unknown form id" in errors["other.png"]
    assert "not found" in errors["missing.png"]
    assert not Path("store.sqlite").exists()


def test_align_keeps_order_skips_scribbles_and_missing_prompts() -> None:
    prompts = ["We have the ability.", "We have no intention.", "Let history answer."]
    readings = ["We hav the abilty", "xx", "Let histoy answer"]
    matches = align(readings, prompts)  # a scribble is left out, a skipped prompt stays empty
    assert [(m.line, m.prompt) for m in matches] == [(0, 0), (2, 2)]
    crossed = align(["Let history answer.", "We hav the abilty"], prompts)  # order is kept
    assert [(m.line, m.prompt) for m in crossed] == [(0, 2)]
    # the area a line sits in breaks a tie between two equally close prompts
    tied = align(["We have"], ["We have a", "We have b"], places=[1])
    assert [(m.line, m.prompt) for m in tied] == [(0, 1)]
    assert align([], prompts) == [] and align(readings, []) == []


def test_form_id_parse_refuses_lookalikes() -> None:
    form = plan_forms(1, seed=0, lang="fr")[0]
    assert layout.FormId.parse(form.id.payload) == form.id
    for bad in ("textrec-form/2/fr/0/0/cc-by-4.0/00000000", form.id.payload + "/x", ""):
        with pytest.raises(InputError, match="not a textrec form id"):
            layout.FormId.parse(bad)
