"""Printable QR posters: a code with the station's or workplace's name beneath it, as SVG or PNG.

Both images have the same layout: the code with a four-module quiet zone, then the name in up to
three centred lines. The SVG leaves the drawing of the text to the viewer's fonts; the PNG is drawn
here with Pillow and needs a font with Chinese glyphs on the server (``POSTER_FONT``, else the first
of :data:`FONT_CANDIDATES` found). Without one the PNG carries the code alone and
:func:`png_font` says so, so the poster page can tell staff to print the SVG instead.
"""
from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import segno
from flask import current_app
from markupsafe import escape

from qunti.membership.cards import qr_path

MODULE = 12  # pixels (PNG) or user units (SVG) per QR module
BORDER = 4  # quiet zone, in modules
FONT_SIZE = 30
LINE_HEIGHT = 40
MAX_LINES = 3
SVG_FONTS = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif"

# Where Debian (fonts-wqy-microhei, fonts-wqy-zenhei, fonts-noto-cjk), macOS and Windows keep a
# font with Chinese glyphs.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


def wrap(text: str, fits: Callable[[str], bool], max_lines: int = MAX_LINES) -> list[str]:
    """``text`` broken into lines that each ``fits``, at most ``max_lines`` (the last one cut with
    "…" when it does not all fit). Breaks between any two characters: Chinese has no spaces."""
    lines: list[str] = []
    line = ""
    for char in " ".join(text.split()):
        if line and not fits(line + char):
            lines.append(line)
            line = char.lstrip()
        else:
            line += char
    if line:
        lines.append(line)
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and not fits(last + "…"):
            last = last[:-1]
        lines = [*lines[:max_lines - 1], last + "…"]
    return lines


def _em(text: str) -> float:
    """Estimated width of ``text`` in ems: full-width (Chinese) characters 1, others about 0.55."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.55 for c in text)


def _side(data: str) -> tuple[str, int, int]:
    path, modules = qr_path(data)
    return path, modules, (modules + 2 * BORDER) * MODULE


def poster_svg(data: str, label: str) -> str:
    """The code of ``data`` with ``label`` beneath it, as a standalone SVG document."""
    path, _modules, side = _side(data)
    width = side - 2 * MODULE
    lines = wrap(label, lambda s: _em(s) * FONT_SIZE <= width)
    height = side + LINE_HEIGHT * len(lines) + (MODULE if lines else 0)
    text = "".join(
        f'<text x="{side / 2:g}" y="{side + LINE_HEIGHT * i + FONT_SIZE - MODULE:g}" text-anchor="middle" '
        f'font-size="{FONT_SIZE}" font-family="{SVG_FONTS}">{escape(line)}</text>'
        for i, line in enumerate(lines))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{height}" '
            f'viewBox="0 0 {side} {height}"><rect width="100%" height="100%" fill="#fff"/>'
            f'<g transform="translate({BORDER * MODULE} {BORDER * MODULE}) scale({MODULE})">'
            f'<path d="{path}" fill="#000"/></g>{text}</svg>')


@lru_cache(maxsize=4)
def _find_font(configured: str | None) -> str | None:
    if configured:
        return configured if Path(configured).is_file() else None
    return next((c for c in FONT_CANDIDATES if Path(c).is_file()), None)


def png_font() -> str | None:
    """The font file the PNG's name is drawn with, or None when the server has none to use."""
    found = _find_font(current_app.config.get("POSTER_FONT") or None)
    if found is None:
        current_app.logger.warning("no font with Chinese glyphs for QR posters (set POSTER_FONT)")
    return found


@lru_cache(maxsize=4)
def _font(path: str):
    from PIL import ImageFont
    return ImageFont.truetype(path, FONT_SIZE)


def poster_png(data: str, label: str) -> bytes:
    """The same poster as :func:`poster_svg`, as PNG bytes (the code alone without a font)."""
    from PIL import Image, ImageDraw

    code = segno.make(data, error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=MODULE, border=BORDER)
    buffer.seek(0)
    qr = Image.open(buffer).convert("L")
    side = qr.width
    font_path = png_font()
    if font_path is None or not label.strip():
        return _png_bytes(qr)
    font = _font(font_path)
    lines = wrap(label, lambda s: font.getlength(s) <= side - 2 * MODULE)
    poster = Image.new("L", (side, side + LINE_HEIGHT * len(lines) + MODULE), 255)
    poster.paste(qr, (0, 0))
    draw = ImageDraw.Draw(poster)
    for i, line in enumerate(lines):
        draw.text((side / 2, side + LINE_HEIGHT * i + FONT_SIZE - MODULE), line, font=font, fill=0, anchor="ms")
    return _png_bytes(poster)


def _png_bytes(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
