"""Safe XML parsing for every XML-based format (XRDML, BRML, RASX): defusedxml, no DTD, no entities.

``defusedxml.ElementTree.fromstring(..., forbid_dtd=True)`` refuses any document type declaration,
so entity expansion ("billion laughs", quadratic blow-up) and external entities (file or network
reads) cannot happen; instrument XML never needs a DTD. Parse errors carry the line and column.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as DET

from instruments.io._base import fail, parse_float

__all__ = ["parse_xml", "local", "children", "find", "findall", "text_of", "float_of", "iter_local"]


def parse_xml(path: Path, data: bytes, member: str | None = None) -> ET.Element:
    """The root element of an XML document (``member`` names the archive member in errors)."""
    where = f"member {member}" if member else None
    try:
        return DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise fail(path, where, "XML with a document type declaration (DTD) is refused: entity expansion is unsafe") from None
    except defusedxml.EntitiesForbidden:
        raise fail(path, where, "XML declares entities; refused (entity expansion is unsafe)") from None
    except defusedxml.ExternalReferenceForbidden:
        raise fail(path, where, "XML refers to an external resource; refused") from None
    except ET.ParseError as exc:
        line, col = exc.position
        place = f"{where}, line {line}, column {col}" if where else f"line {line}, column {col}"
        raise fail(path, place, f"malformed XML ({str(exc).split(':')[0]})") from None
    except LookupError as exc:  # unknown encoding in the XML declaration
        raise fail(path, where, f"malformed XML declaration ({exc})") from None
    except (ValueError, UnicodeError) as exc:
        raise fail(path, where, f"malformed XML ({exc})") from None


def local(tag: str) -> str:
    """Tag without its namespace: ``{http://...}kAlpha1`` → ``kAlpha1``."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if local(c.tag) == name]


def find(elem: ET.Element | None, *names: str) -> ET.Element | None:
    """The first descendant path ``names[0]/names[1]/...`` (local names, direct children each step)."""
    cur = elem
    for name in names:
        if cur is None:
            return None
        cur = next((c for c in cur if local(c.tag) == name), None)
    return cur


def findall(elem: ET.Element, name: str) -> list[ET.Element]:
    """All descendants with local name ``name`` (document order)."""
    return [e for e in elem.iter() if local(e.tag) == name]


def iter_local(elem: ET.Element, name: str) -> Iterator[ET.Element]:
    return (e for e in elem.iter() if local(e.tag) == name)


def text_of(elem: ET.Element | None) -> str | None:
    if elem is None or elem.text is None:
        return None
    t = elem.text.strip()
    return t or None


def float_of(path: Path, elem: ET.Element | None, what: str, where: str) -> float | None:
    """A finite float from an element's text, ``None`` if the element is absent or empty."""
    t = text_of(elem)
    return None if t is None else parse_float(t, path, where, what)
