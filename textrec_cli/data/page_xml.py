"""ALTO v4 and PAGE-XML 2019: one page model (lines with polygon, baseline, text) read and written.

These are the formats eScriptorium, Transkribus and kraken exchange, so the detector trains on
their exports and `predict --format alto|page` writes files those tools open again. Readers accept
any ALTO (v2-v4) or PAGE (2010-2019) namespace; writers emit ALTO v4.4 and PAGE 2019-07-15.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textrec_cli.containers import PageLine, Point
from textrec_cli.errors import InputError
from textrec_cli.fileio import atomic_path

if TYPE_CHECKING:  # lxml loads only to read or write XML
    from lxml import etree

    from textrec_cli.containers import Prediction

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_XSD = "http://www.loc.gov/standards/alto/v4/alto-4-4.xsd"
PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
PAGE_XSD = f"{PAGE_NS}/pagecontent.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


@dataclass
class Page:
    """A page image's size and its lines in reading order."""

    image: str
    width: int
    height: int
    lines: list[PageLine] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @classmethod
    def of(cls, prediction: Prediction, size: tuple[int, int]) -> Page:
        """Any reading as the page the writers take (a line or char image: one line)."""
        return cls(Path(prediction.file).name, size[0], size[1], prediction.page_lines(size))


def parse_points(value: str | None) -> list[Point]:
    """'x,y x,y' (PAGE, ALTO 4.2+) or 'x y x y' (ALTO, eScriptorium) -> [(x, y), ...]."""
    if not value:
        return []
    numbers = value.replace(",", " ").split()
    try:
        coords = [round(float(n)) for n in numbers]
    except ValueError:
        raise InputError(f"bad point list {value[:40]!r}") from None
    if len(coords) % 2:
        raise InputError(f"odd number of coordinates in {value[:40]!r}")
    return list(zip(coords[0::2], coords[1::2], strict=True))


def _parse(path: Path) -> etree._Element:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        return etree.parse(str(path), parser).getroot()
    except OSError:
        raise InputError(f"{path}: cannot read file") from None
    except etree.XMLSyntaxError as exc:
        raise InputError(f"{path}: not well-formed XML ({exc})") from None


def read_page_file(path: str | Path) -> Page:
    """An ALTO or PAGE-XML file as a Page (the format is told by its root element)."""
    from lxml import etree

    path = Path(path)
    root = _parse(path)
    name = etree.QName(root).localname
    if name == "alto":
        return _read_alto(root, path)
    if name == "PcGts":
        return _read_pagexml(root, path)
    raise InputError(f"{path}: neither ALTO nor PAGE-XML (root element <{name}>)")


def _read_alto(root: etree._Element, path: Path) -> Page:
    from lxml import etree

    unit = root.findtext(".//{*}MeasurementUnit")
    if unit and unit.strip() != "pixel":
        raise InputError(f"{path}: ALTO MeasurementUnit {unit.strip()!r}; only pixel is supported")
    page_el = root.find(".//{*}Page")
    if page_el is None:
        raise InputError(f"{path}: ALTO without a <Page>")
    image = root.findtext(".//{*}sourceImageInformation/{*}fileName") or ""
    page = Page(image.strip(), _int(page_el, "WIDTH", path), _int(page_el, "HEIGHT", path))
    for el in page_el.iter("{*}TextLine"):
        shape = el.find("{*}Shape/{*}Polygon")
        polygon = parse_points(shape.get("POINTS")) if shape is not None else []
        if not polygon and el.get("HPOS") is not None:
            x, y = round(float(el.get("HPOS"))), round(float(el.get("VPOS")))
            w, h = round(float(el.get("WIDTH"))), round(float(el.get("HEIGHT")))
            polygon = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        parts = []
        for child in el:
            tag = etree.QName(child).localname
            if tag == "String":
                parts.append(child.get("CONTENT", ""))
            elif tag == "SP":
                parts.append(" ")
        text = "".join(parts) if any(p == " " for p in parts) else " ".join(parts)
        conf = [float(s.get("WC")) for s in el.iter("{*}String") if s.get("WC")]
        if polygon:
            page.lines.append(
                PageLine(
                    polygon,
                    parse_points(el.get("BASELINE")),
                    text,
                    el.get("ID", ""),
                    sum(conf) / len(conf) if conf else None,
                )
            )
    return page


def _read_pagexml(root: etree._Element, path: Path) -> Page:
    page_el = root.find("{*}Page")
    if page_el is None:
        raise InputError(f"{path}: PAGE-XML without a <Page>")
    page = Page(
        page_el.get("imageFilename", ""),
        _int(page_el, "imageWidth", path),
        _int(page_el, "imageHeight", path),
    )
    for el in page_el.iter("{*}TextLine"):
        coords = el.find("{*}Coords")
        polygon = parse_points(coords.get("points")) if coords is not None else []
        baseline_el = el.find("{*}Baseline")
        baseline = parse_points(baseline_el.get("points")) if baseline_el is not None else []
        equivs = sorted(el.findall("{*}TextEquiv"), key=lambda e: int(e.get("index", 0) or 0))
        text, conf = "", None
        if equivs:
            text = equivs[0].findtext("{*}Unicode") or ""
            conf = float(equivs[0].get("conf")) if equivs[0].get("conf") else None
        if polygon:
            page.lines.append(PageLine(polygon, baseline, text, el.get("id", ""), conf))
    return page


def _int(el: etree._Element, name: str, path: Path) -> int:
    from lxml import etree

    try:
        return round(float(el.get(name)))
    except (TypeError, ValueError):
        raise InputError(f"{path}: <{etree.QName(el).localname}> lacks a numeric {name}") from None


def _alto_points(points: list[Point]) -> str:
    return " ".join(f"{x} {y}" for x, y in points)


def _page_points(points: list[Point]) -> str:
    return " ".join(f"{x},{y}" for x, y in points)


def to_alto(page: Page) -> bytes:
    """The page as an ALTO v4 document (one TextBlock holding every line, in reading order)."""
    from lxml import etree

    a = f"{{{ALTO_NS}}}"
    root = etree.Element(f"{a}alto", nsmap={None: ALTO_NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{ALTO_NS} {ALTO_XSD}")
    description = etree.SubElement(root, f"{a}Description")
    etree.SubElement(description, f"{a}MeasurementUnit").text = "pixel"
    source = etree.SubElement(description, f"{a}sourceImageInformation")
    etree.SubElement(source, f"{a}fileName").text = page.image
    layout = etree.SubElement(root, f"{a}Layout")
    page_el = etree.SubElement(
        layout,
        f"{a}Page",
        ID="page_1",
        PHYSICAL_IMG_NR="1",
        WIDTH=str(page.width),
        HEIGHT=str(page.height),
    )
    space = etree.SubElement(
        page_el,
        f"{a}PrintSpace",
        HPOS="0",
        VPOS="0",
        WIDTH=str(page.width),
        HEIGHT=str(page.height),
    )
    if page.lines:
        block = etree.SubElement(space, f"{a}TextBlock", ID="block_1", **_alto_box(page.lines))
        for i, line in enumerate(page.lines, 1):
            x0, y0, x1, y1 = line.box
            attrs = {
                "ID": line.id or f"line_{i}",
                "HPOS": str(x0),
                "VPOS": str(y0),
                "WIDTH": str(x1 - x0),
                "HEIGHT": str(y1 - y0),
            }
            if line.baseline:
                attrs["BASELINE"] = _alto_points(line.baseline)
            line_el = etree.SubElement(block, f"{a}TextLine", **attrs)
            shape = etree.SubElement(line_el, f"{a}Shape")
            etree.SubElement(shape, f"{a}Polygon", POINTS=_alto_points(line.polygon))
            string = etree.SubElement(
                line_el,
                f"{a}String",
                CONTENT=line.text,
                HPOS=str(x0),
                VPOS=str(y0),
                WIDTH=str(x1 - x0),
                HEIGHT=str(y1 - y0),
            )
            if line.confidence is not None:
                string.set("WC", f"{min(max(line.confidence, 0.0), 1.0):.4f}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _alto_box(lines: list[PageLine]) -> dict[str, str]:
    boxes = [line.box for line in lines]
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return {"HPOS": str(x0), "VPOS": str(y0), "WIDTH": str(x1 - x0), "HEIGHT": str(y1 - y0)}


def to_pagexml(page: Page, creator: str = "textrec") -> bytes:
    """The page as a PAGE-XML 2019-07-15 document (one TextRegion, reading order given)."""
    from lxml import etree

    p = f"{{{PAGE_NS}}}"
    root = etree.Element(f"{p}PcGts", nsmap={None: PAGE_NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{PAGE_NS} {PAGE_XSD}")
    metadata = etree.SubElement(root, f"{p}Metadata")
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    etree.SubElement(metadata, f"{p}Creator").text = creator
    etree.SubElement(metadata, f"{p}Created").text = now
    etree.SubElement(metadata, f"{p}LastChange").text = now
    page_el = etree.SubElement(
        root,
        f"{p}Page",
        imageFilename=page.image,
        imageWidth=str(page.width),
        imageHeight=str(page.height),
    )
    if not page.lines:
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    order = etree.SubElement(page_el, f"{p}ReadingOrder")
    group = etree.SubElement(order, f"{p}OrderedGroup", id="ro_1")
    etree.SubElement(group, f"{p}RegionRefIndexed", index="0", regionRef="region_1")
    region = etree.SubElement(page_el, f"{p}TextRegion", id="region_1")
    box = _alto_box(page.lines)
    x0, y0 = int(box["HPOS"]), int(box["VPOS"])
    x1, y1 = x0 + int(box["WIDTH"]), y0 + int(box["HEIGHT"])
    etree.SubElement(
        region, f"{p}Coords", points=_page_points([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    )
    for i, line in enumerate(page.lines, 1):
        line_el = etree.SubElement(region, f"{p}TextLine", id=line.id or f"line_{i}")
        etree.SubElement(line_el, f"{p}Coords", points=_page_points(line.polygon))
        if line.baseline:
            etree.SubElement(line_el, f"{p}Baseline", points=_page_points(line.baseline))
        equiv = etree.SubElement(line_el, f"{p}TextEquiv")
        if line.confidence is not None:
            equiv.set("conf", f"{min(max(line.confidence, 0.0), 1.0):.4f}")
        etree.SubElement(equiv, f"{p}Unicode").text = line.text
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_page_file(page: Page, path: str | Path, fmt: str) -> Path:
    """Write `fmt` ('alto' or 'page') atomically to `path`."""
    if fmt not in ("alto", "page"):
        raise InputError(f"unknown page format {fmt!r}; choose alto or page")
    data = to_alto(page) if fmt == "alto" else to_pagexml(page)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
