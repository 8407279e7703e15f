"""Reading a JSON request body defensively: size, content type and syntax are checked first."""
from __future__ import annotations

from typing import Any

from flask import current_app, request

from qunti import jsontext
from qunti.api.errors import ApiError


def json_object(max_bytes: int | None = None) -> dict[str, Any]:
    """The request body as a JSON object, or an ApiError with a clear 4xx."""
    limit = max_bytes or current_app.config["MAX_JSON_BODY"]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"请求体过大（上限 {limit} 字节）")
    if request.mimetype != "application/json":
        raise ApiError(415, "请求体必须是 JSON（Content-Type: application/json）")
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        raise ApiError(413, f"请求体过大（上限 {limit} 字节）")
    try:
        body = jsontext.loads(raw)
    except ValueError as exc:  # bad UTF-8 or JSON syntax, or a number JSON has not (NaN, 1e400)
        raise ApiError(400, f"JSON 格式错误：{exc}") from None
    if not isinstance(body, dict):
        raise ApiError(422, "请求体必须是一个 JSON 对象")
    return body
