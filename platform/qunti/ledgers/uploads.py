"""Files people upload: into the ledgers (文字资料库, a 民生实事 proposal's evidence), and photos of
a 七有 inspection (qunti.stations, images only, with their own size limit).

A file is accepted only when its extension is allowed AND its first bytes (for Office files: the zip
directory) are what that type starts with; the size limit is ``DOCUMENT_MAX_BYTES`` unless the
caller gives another. Files are kept
in the instance folder, outside the web root, under random names; the original name is data, shown
and sent back in Content-Disposition, never used as a path.
"""
from __future__ import annotations

import hashlib
import io
import os
import secrets
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, request, send_file
from werkzeug.datastructures import FileStorage

from qunti.db import db

TYPES = {  # extension -> (name people know, MIME type)
    "pdf": ("PDF", "application/pdf"),
    "docx": ("Word（DOCX）", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("Excel（XLSX）", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "jpg": ("JPG", "image/jpeg"),
    "jpeg": ("JPG", "image/jpeg"),
    "png": ("PNG", "image/png"),
    "txt": ("文本（TXT）", "text/plain; charset=utf-8"),
}
ALLOWED_TEXT = "PDF、Word（DOCX）、Excel（XLSX）、JPG、PNG 或 TXT"
IMAGES = ("jpg", "jpeg", "png")
# Room for the other form fields of an upload page on top of the file itself.
FORM_OVERHEAD = 64 * 1024


class UploadRefused(Exception):
    """A file that is not accepted; ``message`` says why, in Chinese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class StoredFile:
    original_name: str
    relative_path: str  # under the instance folder
    stored_name: str
    extension: str
    size: int
    sha256: str


def allowed_text(allowed: Collection[str] | None = None) -> str:
    """The allowed types as people read them: "JPG 或 PNG"."""
    if allowed is None:
        return ALLOWED_TEXT
    names = list(dict.fromkeys(TYPES[extension][0] for extension in allowed))
    return names[0] if len(names) == 1 else "、".join(names[:-1]) + " 或 " + names[-1]


def large_body(setting: str):
    """Mark a view that accepts a file of up to ``config[setting]`` bytes. Its request's size limit
    is raised before anything reads the body -- Flask-WTF's CSRF check, which runs before the view
    and parses the whole form, included -- so a large file is not cut off by the app-wide limit."""
    def mark(view):
        view.upload_limit_setting = setting  # functools.wraps carries it to the decorators above
        return view
    return mark


def _raise_limit() -> None:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    setting = getattr(view, "upload_limit_setting", None)
    if setting is not None:
        # The file's own limit plus the form around it: a too-large file then gets this module's
        # message in Chinese instead of the app-wide 413.
        request.max_content_length = current_app.config[setting] + FORM_OVERHEAD


def init_app(app) -> None:
    """Raise the size limit of :func:`large_body` views first of all before-request functions."""
    app.before_request_funcs.setdefault(None, []).insert(0, _raise_limit)


def _zip_has(content: bytes, member: str) -> bool:
    # Only the central directory is read: nothing is decompressed, so a zip bomb costs nothing.
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return False
    return "[Content_Types].xml" in names and member in names


def _is_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        return not any(ord(ch) < 32 and ch not in "\t\r\n\f" for ch in text)
    return False


def content_matches(extension: str, content: bytes) -> bool:
    """Whether ``content`` really is a file of type ``extension``."""
    if extension == "pdf":
        return content.startswith(b"%PDF-")
    if extension in ("jpg", "jpeg"):
        return content.startswith(b"\xff\xd8\xff")
    if extension == "png":
        return content.startswith(b"\x89PNG\r\n\x1a\n")
    if extension == "docx":
        return content.startswith(b"PK\x03\x04") and _zip_has(content, "word/document.xml")
    if extension == "xlsx":
        return content.startswith(b"PK\x03\x04") and _zip_has(content, "xl/workbook.xml")
    if extension == "txt":
        return _is_text(content)
    return False


def clean_name(filename: str) -> str:
    name = os.path.basename(filename.replace("\\", "/")).strip().replace("\x00", "")
    stem, dot, extension = name.rpartition(".")
    if len(name) > 200 and dot:
        name = stem[:200 - len(extension) - 1] + "." + extension
    return name[:200]


def accept(upload: FileStorage | None, folder: str, *, allowed: Collection[str] | None = None,
           limit: int | None = None) -> StoredFile:
    """Check ``upload`` and keep it under ``<instance>/<folder>``; raises UploadRefused.

    ``allowed`` narrows the types (extensions of TYPES, e.g. IMAGES); ``limit`` is the size limit in
    bytes (default ``DOCUMENT_MAX_BYTES``)."""
    if not isinstance(upload, FileStorage) or not upload.filename:
        raise UploadRefused("请选择要上传的文件。")
    name = clean_name(upload.filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in TYPES or (allowed is not None and extension not in allowed):
        raise UploadRefused(f"不支持这种文件类型，只能上传 {allowed_text(allowed)} 文件。")
    limit = limit or current_app.config["DOCUMENT_MAX_BYTES"]
    content = upload.stream.read(limit + 1)
    if len(content) > limit:
        raise UploadRefused(f"文件不能超过 {limit / 1024 / 1024:.1f} MB。")
    if not content:
        raise UploadRefused("文件是空的，请重新选择。")
    if not content_matches(extension, content):
        raise UploadRefused(f"文件内容与扩展名“.{extension}”不符，请上传真正的 {TYPES[extension][0]} 文件。")
    directory = Path(current_app.instance_path) / folder
    directory.mkdir(parents=True, exist_ok=True)
    stored = f"{secrets.token_hex(16)}.{extension}"
    (directory / stored).write_bytes(content)
    return StoredFile(original_name=name, relative_path=f"{folder}/{stored}", stored_name=stored,
                      extension=extension, size=len(content), sha256=hashlib.sha256(content).hexdigest())


def discard(relative_path: str | None) -> None:
    if relative_path:
        (Path(current_app.instance_path) / relative_path).unlink(missing_ok=True)


def commit_keeping(stored: StoredFile | None) -> None:
    """Commit the session that records ``stored``; if the commit fails, roll back and remove the
    file, so no stored file is left that no row names."""
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        discard(stored.relative_path if stored is not None else None)
        raise


def download(relative_path: str, original_name: str, *, as_attachment: bool = True):
    """Send a stored file as an attachment under its original name (RFC 5987 ``filename*`` for
    Chinese names, an ASCII fallback for old clients). ``as_attachment=False`` shows it in the page
    (for images, whose content was checked when they were accepted)."""
    path = Path(current_app.instance_path) / relative_path
    extension = relative_path.rsplit(".", 1)[-1].lower()
    mimetype = TYPES.get(extension, ("", "application/octet-stream"))[1]
    return send_file(path, mimetype=mimetype, as_attachment=as_attachment, download_name=original_name, max_age=0)
