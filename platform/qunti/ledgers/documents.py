"""文字资料库: documents with a title, a type, an organization and tags; searchable by title and
tags; downloaded under their original name."""
from __future__ import annotations

import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import or_, select

from qunti.accounts.access import STAFF_ROLES, login_required_role
from qunti.db import db
from qunti.ledgers import bp, keyset, uploads
from qunti.ledgers.models import DOCUMENT_TYPES, Document
from qunti.menu.models import ORGANIZATIONS

UPLOAD_ROLES = ("station_staff", "dispatcher", "org_admin", "sys_admin")
FOLDER = "documents"
MAX_TAGS, MAX_TAG_LENGTH = 10, 20
_TAG_SPLIT = re.compile(r"[\s,，、;；|]+")


def parse_tags(text: str) -> list[str] | str:
    """Tags typed with commas, 、 or spaces between them; or the reason they are refused."""
    tags: list[str] = []
    for tag in _TAG_SPLIT.split(text or ""):
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        return f"标签最多 {MAX_TAGS} 个。"
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        return f"每个标签不能超过 {MAX_TAG_LENGTH} 个字。"
    return tags


def search(query, q: str, doc_type: str, organization: str, tag: str):
    if q:
        query = query.where(or_(Document.title.contains(q, autoescape=True),
                                Document.tags.contains(q, autoescape=True)))
    if tag:
        query = query.where(Document.tags.contains(f"|{tag}|", autoescape=True))
    if doc_type in DOCUMENT_TYPES:
        query = query.where(Document.doc_type == doc_type)
    if organization in ORGANIZATIONS:
        query = query.where(Document.organization == organization)
    return query


def document_page(q: str, doc_type: str, organization: str, tag: str, cursor: str | None, size: int) -> keyset.Page:
    """Documents matching the search, newest first."""
    query = search(select(Document), q, doc_type, organization, tag)
    return keyset.page(db.session, query, (Document.created_at, Document.id), cursor, size, descending=True,
                       key_of=lambda row: (row.Document.created_at, row.Document.id))


@bp.get("/documents")
@login_required_role(*STAFF_ROLES)
def documents():
    q = request.args.get("q", "").strip()[:50]
    tag = request.args.get("tag", "").strip()[:MAX_TAG_LENGTH]
    doc_type, organization = request.args.get("type", ""), request.args.get("organization", "")
    result = document_page(q, doc_type, organization, tag, request.args.get("after"),
                           current_app.config["LEDGER_PAGE_SIZE"])
    return render_template("ledgers/documents.html", documents=[row.Document for row in result.rows],
                           next_cursor=result.next_cursor, q=q, tag=tag, doc_type=doc_type,
                           organization=organization, types=DOCUMENT_TYPES, organizations=ORGANIZATIONS,
                           can_upload=current_user.role in UPLOAD_ROLES, allowed_types=uploads.ALLOWED_TEXT,
                           max_mb=current_app.config["DOCUMENT_MAX_BYTES"] / 1024 / 1024,
                           first_page=not request.args.get("after"))


def _refuse(message: str):
    flash(message, "error")
    return redirect(url_for(".documents"), code=303)


@bp.post("/documents")
@login_required_role(*UPLOAD_ROLES)
@uploads.large_body("DOCUMENT_MAX_BYTES")
def upload_document():
    title = (request.form.get("title") or "").strip()
    doc_type, organization = request.form.get("doc_type", ""), request.form.get("organization", "")
    if not title:
        return _refuse("请填写资料标题。")
    if len(title) > 100:
        return _refuse("资料标题不能超过 100 个字。")
    if doc_type not in DOCUMENT_TYPES:
        return _refuse(f"请选择资料类型：{'、'.join(DOCUMENT_TYPES.values())}。")
    if organization not in ORGANIZATIONS:
        return _refuse("请选择所属组织。")
    tags = parse_tags(request.form.get("tags", ""))
    if isinstance(tags, str):
        return _refuse(tags)
    try:
        stored = uploads.accept(request.files.get("file"), FOLDER)
    except uploads.UploadRefused as exc:
        return _refuse(exc.message)
    document = Document(title=title, doc_type=doc_type, organization=organization,
                        tags="|" + "".join(f"{t}|" for t in tags), original_name=stored.original_name,
                        stored_name=stored.stored_name, extension=stored.extension, size_bytes=stored.size,
                        sha256=stored.sha256, uploaded_by_user_id=current_user.id,
                        uploaded_by=current_user.signature)
    db.session.add(document)
    uploads.commit_keeping(stored)
    flash(f"已上传“{title}”。", "success")
    return redirect(url_for(".documents"), code=303)


def _document_or_404(document_id: int) -> Document:
    document = db.session.get(Document, document_id)
    if document is None:
        abort(404)
    return document


@bp.get("/documents/<int:document_id>/download")
@login_required_role(*STAFF_ROLES)
def download_document(document_id: int):
    document = _document_or_404(document_id)
    return uploads.download(f"{FOLDER}/{document.stored_name}", document.original_name)


@bp.post("/documents/<int:document_id>/delete")
@login_required_role(*STAFF_ROLES)
def delete_document(document_id: int):
    document = _document_or_404(document_id)
    if current_user.role != "sys_admin" and document.uploaded_by_user_id != current_user.id:
        return _refuse("只有上传人或系统管理员可以删除这份资料。")
    db.session.delete(document)
    db.session.commit()
    uploads.discard(f"{FOLDER}/{document.stored_name}")
    flash(f"已删除“{document.title}”。", "success")
    return redirect(url_for(".documents"), code=303)
