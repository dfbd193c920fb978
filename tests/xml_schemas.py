"""Validate ALTO v4 and PAGE-XML 2019 documents against the official XSDs in ../shared/schemas.

The XSDs sit beside the checkout (no network: ALTO's import of the XLink schema is pointed at the
local copy). `conftest.py` routes every document the writers produce through `assert_valid`, so a
writer change that breaks the schema fails whichever test wrote the file.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from conftest import SHARED

from textrec_cli.data.page_xml import ALTO_NS, PAGE_NS

SCHEMAS = SHARED / "schemas"
ALTO_XSD = SCHEMAS / "alto-4-4.xsd"
PAGE_XSD = SCHEMAS / "pagecontent-2019-07-15.xsd"
XLINK_XSD = SCHEMAS / "xlink.xsd"


@cache
def schema(namespace: str):
    """The XMLSchema for a root namespace (loaded once per session, ~1 s)."""
    import xmlschema

    missing = [p for p in (ALTO_XSD, PAGE_XSD, XLINK_XSD) if not p.is_file()]
    if missing:  # tests need ../shared like the fonts; a missing schema is a failure, not a skip
        raise AssertionError(f"../shared/schemas is incomplete, missing: {missing}")
    if namespace == ALTO_NS:
        return xmlschema.XMLSchema(
            str(ALTO_XSD), locations={"http://www.w3.org/1999/xlink": str(XLINK_XSD.resolve())}
        )
    if namespace == PAGE_NS:
        return xmlschema.XMLSchema(str(PAGE_XSD))
    raise AssertionError(f"not an ALTO v4 or PAGE 2019 document (root namespace {namespace!r})")


def schema_errors(document: bytes | str | Path) -> list[str]:
    """Every schema violation in an ALTO or PAGE document (bytes, text or a file path)."""
    from lxml import etree

    data = Path(document).read_bytes() if isinstance(document, Path) else document
    data = data.encode() if isinstance(data, str) else data
    root = etree.fromstring(data)
    namespace = etree.QName(root).namespace or ""
    return [str(error).splitlines()[0] for error in schema(namespace).iter_errors(root)]


def assert_valid(document: bytes | str | Path) -> None:
    """Raise AssertionError naming the first violations when `document` breaks its schema."""
    errors = schema_errors(document)
    assert not errors, "invalid against the official XSD:\n" + "\n".join(errors[:5])
