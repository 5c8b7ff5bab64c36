"""Renders the OpenAPI document the front ends code against (openapi/openapi.json)."""

from __future__ import annotations

import json

from app.core.settings import Settings


def render_openapi() -> str:
    from app.main import create_app

    # Fixed settings: the document must not depend on the local environment.
    app = create_app(Settings(env="test", run_background=False, _env_file=None))  # type: ignore[call-arg]
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
