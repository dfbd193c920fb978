"""ALTO v4 and PAGE-XML 2019 readers and writers, and the real_pages folder dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SHARED
from lxml import etree
from page_fixture import ALTO_SAMPLE, PAGE_SAMPLE, make_pages_folder, render_page
from xml_schemas import assert_valid, schema_errors

from textrec_cli.data import real_pages
from textrec_cli.data.page_xml import (
    ALTO_NS,
    PAGE_NS,
    parse_points,
    read_page_file,
    to_alto,
    to_pagexml,
    write_page_file,
)
from textrec_cli.errors import InputError

COPISTE_PAGES = SHARED / "data" / "copiste" / "pages"


def test_reads_escriptorium_alto(tmp_path: Path) -> None:
    path = tmp_path / "sample.xml"
    path.write_text(ALTO_SAMPLE, encoding="utf-8")
    page = read_page_file(path)
    assert (page.image, page.width, page.height, len(page.lines)) == ("sample.jpg", 1082, 1400, 2)
    first, second = page.lines
    assert first.text == "imp_wikitexte_0022" and first.id == "eSc_line_1"
    assert first.baseline == [(694, 126), (992, 128)]
    assert first.polygon[0] == (694, 126) and len(first.polygon) == 8
    assert first.box == (693, 105, 992, 142)
    assert second.text == "La Fédération du Laos de football"
    assert second.baseline[1] == (535, 223)


def test_reads_transkribus_pagexml(tmp_path: Path) -> None:
    path = tmp_path / "letter.xml"
    path.write_text(PAGE_SAMPLE, encoding="utf-8")
    page = read_page_file(path)
    assert (page.image, page.width, page.height) == ("letter.png", 800, 600)
    assert [line.text for line in page.lines] == ["Dear John,", "how are you?"]  # not the Word
    assert page.lines[0].confidence == pytest.approx(0.9)
    assert page.lines[1].polygon == [(50, 120), (720, 120), (720, 180), (50, 180)]
    assert page.lines[1].baseline == [(50, 165), (720, 168)]


def test_points_in_both_spellings() -> None:
    assert parse_points("1 2 3 4") == parse_points("1,2 3,4") == [(1, 2), (3, 4)]
    with pytest.raises(InputError):
        parse_points("1 2 3")


@pytest.mark.parametrize(
    "content", ["<html/>", "not xml at all", "<alto xmlns='x'><Layout/></alto>"]
)
def test_bad_files_are_input_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(content)
    with pytest.raises(InputError):
        read_page_file(path)


def test_alto_writer_reads_back(tmp_path: Path) -> None:
    _, page = render_page()
    page.lines[0].confidence = 0.75
    path = write_page_file(page, tmp_path / "out.alto.xml", "alto")
    again = read_page_file(path)
    assert [(ln.text, ln.polygon, ln.baseline) for ln in again.lines] == [
        (ln.text, ln.polygon, ln.baseline) for ln in page.lines
    ]
    assert again.lines[0].confidence == pytest.approx(0.75)
    # structure that eScriptorium / kraken rely on, checked with lxml independently of our reader
    root = etree.fromstring(path.read_bytes())
    ns = {"a": ALTO_NS}
    assert root.tag == f"{{{ALTO_NS}}}alto"
    assert root.findtext("a:Description/a:MeasurementUnit", namespaces=ns) == "pixel"
    lines = root.findall(".//a:Page/a:PrintSpace/a:TextBlock/a:TextLine", ns)
    assert len(lines) == 3
    for line in lines:
        assert [etree.QName(c).localname for c in line] == ["Shape", "String"]
        assert line.get("BASELINE") and line.get("ID") and line.get("HPOS")
        assert line.find("a:Shape/a:Polygon", ns).get("POINTS")


@pytest.mark.parametrize("fmt", ["alto", "page"])
@pytest.mark.parametrize("lines", [3, 0])
def test_writers_validate_against_official_xsd(tmp_path: Path, fmt: str, lines: int) -> None:
    """ALTO 4.4 and PAGE 2019 XSDs from ../shared/schemas, offline (XLink from a local copy)."""
    _, page = render_page()
    page.lines = page.lines[:lines]
    if lines:
        page.lines[0].confidence, page.lines[1].baseline = 0.25, []
    path = write_page_file(page, tmp_path / f"out.{fmt}.xml", fmt)
    assert schema_errors(path) == []


def test_samples_validate_and_validation_can_fail() -> None:
    assert schema_errors(ALTO_SAMPLE) == [] and schema_errors(PAGE_SAMPLE) == []
    _, page = render_page()
    broken = to_alto.__wrapped__(page).replace(b'ID="block_1"', b'ID="1 block"')  # not an xsd:ID
    assert schema_errors(broken)
    with pytest.raises(AssertionError, match="official XSD"):
        assert_valid(
            to_pagexml.__wrapped__(page)
            .replace(b"TextEquiv>", b"TextEquivalent>")
            .replace(b"<TextEquiv ", b"<TextEquivalent ")
        )
    # conftest routes every document the writers produce in-process through assert_valid
    with pytest.raises(AssertionError, match="not an ALTO v4 or PAGE 2019"):
        assert_valid(b"<alto xmlns='x'/>")
    assert to_alto.__wrapped__ is not None and to_pagexml.__wrapped__ is not None


def test_pagexml_writer_reads_back_with_pagexml_tools(tmp_path: Path) -> None:
    from pagexml.parser import parse_pagexml_file

    _, page = render_page()
    path = write_page_file(page, tmp_path / "out.page.xml", "page")
    assert etree.fromstring(path.read_bytes()).tag == f"{{{PAGE_NS}}}PcGts"
    doc = parse_pagexml_file(str(path))
    lines = doc.get_lines()
    assert [line.text for line in lines] == [line.text for line in page.lines]
    assert doc.coords.width > 0
    again = read_page_file(path)
    assert [ln.polygon for ln in again.lines] == [ln.polygon for ln in page.lines]


def test_empty_page_writes_valid_documents() -> None:
    _, page = render_page()
    page.lines = []
    for data in (to_alto(page), to_pagexml(page)):
        assert etree.fromstring(data) is not None


def test_real_pages_folder_and_splits(tmp_path: Path) -> None:
    folder = make_pages_folder(tmp_path / "pages", n_train=3, n_val=2)
    assert len(real_pages.load(folder)) == 5
    val = real_pages.load(folder, "val")
    assert [s.split for s in val] == ["val", "val"]
    assert val[0].image_path.is_file() and len(val[0].page.lines) == 3
    with pytest.raises(InputError):
        real_pages.load(folder, "test")


def test_real_pages_without_table_pairs_xml_and_images(tmp_path: Path) -> None:
    folder = make_pages_folder(tmp_path / "pages")
    (folder / "pages.tsv").unlink()
    (folder / "alto" / "mets.xml").write_text("<mets/>")  # other XML beside an export is skipped
    samples = real_pages.load(folder)
    assert len(samples) == 5 and all(s.split == "train" for s in samples)


@pytest.mark.skipif(not COPISTE_PAGES.is_dir(), reason="../shared/data/copiste/pages missing")
def test_copiste_pages_load() -> None:
    samples = real_pages.load(COPISTE_PAGES)
    assert len(samples) == 264
    assert sum(s.split == "val" for s in samples) == 33
    assert all(s.image_path.is_file() for s in samples[:5])
    assert sum(len(s.page.lines) for s in samples) > 5000
