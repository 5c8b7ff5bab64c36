"""The committed OpenAPI file is what the front ends code against: it must be current."""

from __future__ import annotations

from pathlib import Path

from app.openapi_export import render_openapi

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_openapi_file_is_current() -> None:
    assert OPENAPI.exists(), "openapi/openapi.json 缺失：运行 ejiaren openapi"
    assert OPENAPI.read_text(encoding="utf-8") == render_openapi(), (
        "openapi/openapi.json 已过期：运行 ejiaren openapi"
    )


def test_every_route_has_summary_and_tag() -> None:
    import json

    doc = json.loads(render_openapi())
    missing = [
        f"{method.upper()} {path}"
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if not op.get("summary") or not op.get("tags")
    ]
    assert not missing, f"缺少 summary 或 tags: {missing}"
