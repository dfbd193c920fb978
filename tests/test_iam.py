"""IAM lines preparation from a fixture archive in the real iamdb.zip layout."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from iam_fixture import PRINTED_PREFIX, fixture_forms, make_iam_archive
from PIL import Image

from textrec_cli.data import iam
from textrec_cli.data.line_store import LineDataset, read_lines
from textrec_cli.errors import InputError
from textrec_cli.fileio import sha256_file
from textrec_cli.stems.line import HEIGHT


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_iam_archive(tmp_path_factory.mktemp("iam") / "iamdb.zip")


@pytest.fixture(scope="module")
def prepared(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> LineDataset:
    return read_lines(_prepare(tmp_path_factory.mktemp("data"), archive))


def _prepare(data_dir: Path, source: Path, **kwargs: object) -> Path:
    return iam.prepare(data_dir, source=source, show_progress=False, **kwargs)


def _texts(ds: LineDataset) -> dict[str, set[str]]:
    return {name: set(split.texts) for name, split in ds.splits.items()}


def _expected_width(box: tuple[int, int, int, int], height: int) -> float:
    """line_stem keeps the ink's columns + 2 px a side and the padded crop's full height."""
    x1, y1, x2, y2 = box
    return (x2 - x1 + 4) * height / (y2 - y1 + 2 * iam.LINE_PADDING)


def test_paths(tmp_path: Path) -> None:
    assert iam.raw_path(tmp_path) == tmp_path / "raw" / "iam" / "iamdb.zip"
    assert iam.processed_path(tmp_path) == tmp_path / "processed" / "iam_lines.h5"


def test_zip_roundtrip_counts_texts_and_images(archive: Path, prepared: LineDataset) -> None:
    ds = prepared
    assert ds.name == "iam_lines" and ds.height == HEIGHT
    counts = {name: len(split) for name, split in ds.splits.items()}
    # 4 distinct writers: one held out for test, one for val, 3 lines per form.
    assert counts == {"train": 6, "val": 3, "test": 3}
    assert ds.metadata["counts"] == counts
    assert ds.metadata["split_method"] == "writer-hash"
    assert ds.metadata["archive_sha256"] == sha256_file(archive)
    assert ds.metadata["published_sha256_ok"] is False
    assert ds.metadata["source"] == str(archive)
    everything = set().union(*_texts(ds).values())
    expected = {ln.text for f in fixture_forms() for ln in f.lines}
    assert everything == expected  # handwritten lines only, each once
    # XML entities are decoded, and the machine-printed part is never read as lines.
    assert {'"Stop," he said 1', "Mr. & Mrs. Brown 2", "it's <nearly> over 3"} <= everything
    assert not any(t.startswith(PRINTED_PREFIX) or "&quot;" in t for t in everything)
    boxes = {ln.text: ln.box for f in fixture_forms() for ln in f.lines}
    widths = set()
    for split in ds.splits.values():
        for image, text in zip(split.images, split.texts, strict=True):
            assert image.dtype == np.uint8 and image.shape[0] == HEIGHT
            assert abs(image.shape[1] - _expected_width(boxes[text], HEIGHT)) <= 2, text
            assert image.max() == 255  # ink bright on black
            # the crop is the line: padding rows blank, the middle row mostly word ink (gaps aside)
            assert image[:3].max() < 40 and image[-2:].max() < 40
            assert (image[HEIGHT // 2] > 128).mean() > 0.6
            widths.add(image.shape[1])
    assert len(widths) >= 6  # lines are distinguishable crops, not one repeated box


def test_height_is_honoured(archive: Path, tmp_path: Path) -> None:
    ds = read_lines(_prepare(tmp_path, archive, height=24, unknown_cli_option=1))
    assert ds.height == 24
    assert all(img.shape[0] == 24 for s in ds.splits.values() for img in s.images)


def test_task_lists_are_honoured(tmp_path: Path) -> None:
    source = make_iam_archive(tmp_path / "iamdb.zip", with_task_lists=True)
    ds = read_lines(_prepare(tmp_path / "data", source))
    forms = fixture_forms()
    assert ds.metadata["split_method"] == "task-lists"
    assert ds.metadata["task_files"] == sorted(iam.TASK_FILES)
    assert _texts(ds) == {
        # every line of the train forms, the unlisted last one included (its writer is not held out)
        "train": {ln.text for f in forms[:-2] for ln in f.lines},
        # both validation files; the val form's unlisted last line is dropped, not put in train
        "val": {ln.text for ln in forms[-2].lines[:-1]},
        # listed by form id
        "test": {ln.text for ln in forms[-1].lines},
    }
    assert ds.metadata["skipped"]["unlisted_lines_dropped"] == 1


def test_writer_split_keeps_each_writer_in_one_split(tmp_path: Path) -> None:
    source = make_iam_archive(
        tmp_path / "iamdb.zip", n_forms=12, lines_per_form=2, forms_per_writer=2
    )
    ds = read_lines(_prepare(tmp_path / "data", source))
    writer_of = {ln.text: f.writer for f in fixture_forms(12, 2, 2) for ln in f.lines}
    writers = {name: {writer_of[t] for t in texts} for name, texts in _texts(ds).items()}
    assert writers["train"].isdisjoint(writers["val"] | writers["test"])
    assert writers["val"].isdisjoint(writers["test"])
    assert {name: len(w) for name, w in writers.items()} == {"train": 4, "val": 1, "test": 1}
    assert ds.metadata["writers"] == {"train": 4, "val": 1, "test": 1}
    assert {name: len(s) for name, s in ds.splits.items()} == {"train": 16, "val": 4, "test": 4}
    again = read_lines(_prepare(tmp_path / "again", source))
    assert _texts(again) == _texts(ds)  # the split is a stable function of the writer ids


def test_writer_split_holds_out_about_ten_percent() -> None:
    split = iam.writer_split(f"{i:03d}" for i in range(657))  # IAM has 657 writers
    sizes = {name: sum(v == name for v in split.values()) for name in iam.SPLITS}
    assert sizes == {"train": 525, "val": 66, "test": 66}
    assert iam.writer_split(reversed(list(split))) == split
    assert set(iam.writer_split(["a", "b"]).values()) == {"train"}


def test_directory_source_matches_zip(prepared: LineDataset, tmp_path: Path) -> None:
    root = make_iam_archive(tmp_path / "extracted", as_zip=False)
    assert (root / "iamdb" / "xml").is_dir() and (root / "iamdb" / "forms").is_dir()
    for source in (root, root / "iamdb"):
        ds = read_lines(_prepare(tmp_path / source.name, source))
        assert ds.metadata["archive_sha256"] is None
        for name, split in prepared.splits.items():
            assert ds.splits[name].texts == split.texts
            for a, b in zip(ds.splits[name].images, split.images, strict=True):
                assert np.array_equal(a, b)


def test_split_form_folders_png_and_double_escaped_entities(tmp_path: Path) -> None:
    root = make_iam_archive(tmp_path / "src", as_zip=False) / "iamdb"
    forms = fixture_forms()
    (root / "formsA-D").mkdir()
    (root / "formsE-H").mkdir()
    for i, form in enumerate(forms):
        jpg = root / "forms" / f"{form.id}.jpg"
        if i % 2:
            Image.open(jpg).save(root / "formsE-H" / f"{form.id}.png")
            jpg.unlink()
        else:
            shutil.move(jpg, root / "formsA-D" / jpg.name)
    (root / "forms").rmdir()
    xml = root / "xml" / f"{forms[0].id}.xml"
    xml.write_bytes(xml.read_bytes().replace(b"&quot;", b"&amp;quot;"))
    ds = read_lines(_prepare(tmp_path / "data", root))
    assert sum(len(s) for s in ds.splits.values()) == 12
    assert '"Stop," he said 1' in set().union(*_texts(ds).values())


def test_missing_and_unreadable_form_images_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_iam_archive(tmp_path / "src", as_zip=False) / "iamdb"
    forms = fixture_forms()
    (root / "forms" / f"{forms[0].id}.jpg").unlink()
    (root / "forms" / f"{forms[1].id}.jpg").write_bytes(b"not a jpeg")
    capsys.readouterr()
    ds = read_lines(_prepare(tmp_path / "data", root))
    assert sum(len(s) for s in ds.splits.values()) == 6
    assert ds.metadata["skipped"]["forms_without_image"] == 1
    assert ds.metadata["skipped"]["unreadable_images"] == 1
    err = capsys.readouterr().err
    assert "skipped 2 of 4 IAM forms" in err and len(err.strip().splitlines()) == 1
    for form in forms[2:]:
        (root / "forms" / f"{form.id}.jpg").unlink()
    with pytest.raises(InputError, match="none of the 4 forms in xml/ has a readable page image"):
        _prepare(tmp_path / "data2", root)


def _not_zip(tmp: Path) -> Path:
    path = tmp / "iamdb.zip"
    path.write_text("this is not a zip\n")
    return path


def _truncated_zip(tmp: Path) -> Path:
    data = make_iam_archive(tmp / "full.zip").read_bytes()
    path = tmp / "iamdb.zip"
    path.write_bytes(data[: len(data) // 2])
    return path


def _zip_without_xml(tmp: Path) -> Path:
    full = make_iam_archive(tmp / "full.zip", n_forms=1)
    path = tmp / "iamdb.zip"
    with zipfile.ZipFile(full) as src, zipfile.ZipFile(path, "w") as dst:
        for name in src.namelist():
            if "/xml/" not in name:
                dst.writestr(name, src.read(name))
    return path


def _broken_xml(tmp: Path) -> Path:
    root = make_iam_archive(tmp / "src", as_zip=False)
    bad = root / "iamdb" / "xml" / f"{fixture_forms()[2].id}.xml"
    bad.write_bytes(bad.read_bytes()[:200])
    return root


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "nope.zip", r"IAM source not found: .*nope\.zip"),
        (_not_zip, r"is not a valid zip archive \(truncated download\?\)"),
        (_truncated_zip, r"is not a valid zip archive \(truncated download\?\)"),
        (_zip_without_xml, r"no xml/ folder"),
        (_broken_xml, rf"cannot parse IAM XML iamdb/xml/{fixture_forms()[2].id}\.xml"),
    ],
    ids=["missing", "not-zip", "truncated-zip", "no-xml", "broken-xml"],
)
def test_bad_sources_raise_one_line_input_error(
    make: Callable[[Path], Path], message: str, tmp_path: Path
) -> None:
    source = make(tmp_path)
    with pytest.raises(InputError, match=message) as info:
        _prepare(tmp_path / "data", source)
    assert "\n" not in str(info.value)


def test_failed_prepare_keeps_existing_output(archive: Path, tmp_path: Path) -> None:
    out = _prepare(tmp_path, archive)
    before = out.read_bytes()
    with pytest.raises(InputError):
        _prepare(tmp_path, _broken_xml(tmp_path))
    with pytest.raises(InputError):
        _prepare(tmp_path, _not_zip(tmp_path))
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temp files left


def test_download_path_prints_licence_note(
    archive: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = []

    def fake_download(urls: list[str], dest: Path, sha256: str | None, **kwargs: object) -> Path:
        calls.append((urls, dest, sha256))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(archive, dest)
        return dest

    monkeypatch.setattr(iam, "download_file", fake_download)
    capsys.readouterr()
    ds = read_lines(iam.prepare(tmp_path, show_progress=False))
    assert calls == [(iam.URLS, iam.raw_path(tmp_path), iam.SHA256)]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "licence" in err[0] and "IAM" in err[0]
    assert ds.metadata["source"] == str(iam.raw_path(tmp_path))
    assert sum(len(s) for s in ds.splits.values()) == 12
