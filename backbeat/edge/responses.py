"""JSON responses serialized with orjson (a list of 1,000 tasks is the hot path)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
