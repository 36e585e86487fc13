"""GeoReport v2's two formats from one representation: JSON as it is, XML by the spec's Spark convention.

A response is built once as plain data (lists, dicts, strings, numbers, booleans, None) and rendered in
the format the URL asks for: `.json` as JSON, `.xml` as XML written by ElementTree (never by string
concatenation). In XML a list becomes a wrapper element holding one element per item, named as the spec
names it (`<services><service>`, `<attributes><attribute>`, `<formats><format>`); None is an empty element
(`<account_id/>`), booleans are true/false."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from flask import Response

FORMATS = ("json", "xml")
CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# the element each item of a list is written as, by the list's own name (GeoReport v2 and Service Discovery)
ITEM_TAGS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
             "values": "value", "endpoints": "endpoint", "formats": "format", "media_urls": "media_url"}
# what XML 1.0 cannot carry at all (control characters, lone surrogates, U+FFFE and U+FFFF): replaced, so a
# stored oddity never makes the whole document unparseable
NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return NOT_XML.sub("\ufffd", str(value))


def _fill(element: ET.Element, value) -> None:
    """Write `value` into `element`: a dict as child elements, a list as one child per item, else text."""
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ET.SubElement(element, key), item)
    elif isinstance(value, (list, tuple)):
        tag = ITEM_TAGS.get(element.tag, "item")
        for item in value:
            _fill(ET.SubElement(element, tag), item)
    else:
        element.text = _text(value)


def to_xml(body, root: str) -> bytes:
    """The XML document of `body` under the element `root`, with the declaration the spec asks for."""
    element = ET.Element(root)
    _fill(element, body)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def render(body, root: str, fmt: str, status: int = 200) -> Response:
    """`body` as a response in `fmt` (json or xml), with charset=utf-8."""
    if fmt == "xml":
        data = to_xml(body, root)
    else:
        data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode()
    return Response(data, status=status, content_type=CONTENT_TYPES[fmt])


def format_of(path: str) -> str:
    """The format a GeoReport URL asks for: json for `.json`, else XML (the spec's required format)."""
    return "json" if path.endswith(".json") else "xml"


def errors(code: int, description: str, fmt: str, headers: dict | None = None) -> Response:
    """The spec's error document: a list of {code, description} (`<errors><error>` in XML)."""
    response = render([{"code": code, "description": description}], "errors", fmt, status=code)
    response.headers.update(headers or {})
    return response
