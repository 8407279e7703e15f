"""QR code images (SVG and PNG) for links residents scan."""
from __future__ import annotations

import io

import segno
from flask import Response


def qr_response(data: str, kind: str = "svg", scale: int = 6) -> Response:
    code = segno.make(data, error="m")
    buffer = io.BytesIO()
    if kind == "png":
        code.save(buffer, kind="png", scale=scale, border=2)
        mimetype = "image/png"
    else:
        code.save(buffer, kind="svg", scale=scale, border=2, xmldecl=False, svgns=True)
        mimetype = "image/svg+xml"
    response = Response(buffer.getvalue(), mimetype=mimetype)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
