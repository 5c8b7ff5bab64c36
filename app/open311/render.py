"""Open311 GeoReport v2 output: the same data as JSON or XML, and the spec's
error format (a list of ``{"code", "description"}``; ``<errors><error>`` in XML)."""

from __future__ import annotations

from typing import Any, Literal
from xml.etree import ElementTree as ET

from fastapi.responses import Response

from app.core.textguard import xml_safe

Format = Literal["json", "xml"]
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"

# The element name of one item of each list (the spec's XML shapes).
_ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


class Open311Error(Exception):
    """An error answered in the spec's format with HTTP status ``status``."""

    def __init__(self, status: int, description: str, headers: dict[str, str] | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers


def format_of(path: str) -> Format:
    return "xml" if path.endswith(".xml") else "json"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(element, key, child)
    elif isinstance(value, list):
        item = _ITEM.get(name, "item")
        for child in value:
            _fill(element, item, child)
    else:
        text = _text(value)
        element.text = None if text is None else xml_safe(text)


def to_xml(root: str, value: Any) -> bytes:
    """``value`` under ``<root>``: a list gives one item element per entry."""
    element = ET.Element(root)
    if isinstance(value, list):
        item = _ITEM.get(root, "item")
        for child in value:
            _fill(element, item, child)
    elif isinstance(value, dict):
        for key, child in value.items():
            _fill(element, key, child)
    body: bytes = ET.tostring(element, encoding="utf-8", xml_declaration=True)
    return body


def respond(
    fmt: Format,
    root: str,
    value: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """JSON as the spec shows it (lists stay lists); XML under ``<root>``."""
    if fmt == "xml":
        return Response(
            to_xml(root, value), status_code=status, media_type=XML_TYPE, headers=headers
        )
    import json

    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=status, media_type=JSON_TYPE, headers=headers)


def spec_error(path: str, status: int, description: str) -> Response:
    """An error met before an Open311 route runs, in the spec's format."""
    return error_response(format_of(path), Open311Error(status, description))


def error_response(fmt: Format, error: Open311Error) -> Response:
    return respond(
        fmt,
        "errors",
        [{"code": error.status, "description": error.description}],
        status=error.status,
        headers=error.headers,
    )
