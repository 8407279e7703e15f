"""组织生活 and the information services (政策宣传, 技能培训, 就业信息): organizations publish posts from a
staff page; residents read them and, where a post links a form (a course links its sign-up form),
sign up through that generated form — which goes through intake like any other service request.

One model, one list page, one detail page and one editor serve all four kinds; only the fields a
kind shows differ (:data:`FIELDS`).
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select

from qunti import intake
from qunti.accounts.access import login_required_role
from qunti.db import db, utcnow
from qunti.forms.models import Submission
from qunti.forms.registry import compiled_version, current_version
from qunti.masking import mask_name, mask_phone
from qunti.menu.models import ORGANIZATIONS, ServiceItem
from qunti.menu.queries import item_for_form
from qunti.membership.models import INFO_KINDS, KINDS, InfoPost, InfoSignup, Organization
from qunti.resident.views import _remember

bp = Blueprint("info", __name__, url_prefix="/info")
staff_bp = Blueprint("info_staff", __name__, url_prefix="/staff/info")

PUBLISHER_ROLES = ("org_admin", "sys_admin")
# Extra fields each kind shows (besides title, summary and body): name -> label.
FIELDS = {
    "life": {"place": "地点", "starts_on": "日期", "form_id": "报名表单"},
    "policy": {},
    "course": {"place": "上课地点", "starts_on": "开课日期", "contact": "咨询电话", "form_id": "报名表单"},
    "job": {"employer": "招聘单位", "place": "工作地点", "pay": "薪酬", "contact": "联系方式", "form_id": "求职登记表单"},
}
LIMITS = {"title": 100, "summary": 200, "body": 20000, "place": 200, "employer": 100, "pay": 60, "contact": 60}


def _kind(kind: str) -> str:
    if kind not in INFO_KINDS:
        abort(404)
    return kind


def _published():
    return select(InfoPost).where(InfoPost.published_at.is_not(None), InfoPost.withdrawn_at.is_(None))


# --- residents ---------------------------------------------------------------------------------------

@bp.get("/")
def index():
    latest = {kind: db.session.scalars(_published().where(InfoPost.kind == kind)
                                       .order_by(InfoPost.published_at.desc()).limit(3)).all()
              for kind in INFO_KINDS}
    return render_template("membership/info/index.html", kinds=INFO_KINDS, latest=latest)


@bp.get("/<kind>")
def posts(kind: str):
    kind = _kind(kind)
    found = db.session.scalars(_published().where(InfoPost.kind == kind)
                               .order_by(InfoPost.published_at.desc()).limit(100)).all()
    return render_template("membership/info/list.html", kind=kind, kinds=INFO_KINDS, posts=found)


def _public_post(kind: str, post_id: int) -> InfoPost:
    post = db.session.scalar(_published().where(InfoPost.id == post_id, InfoPost.kind == _kind(kind)))
    if post is None:
        abort(404)
    return post


@bp.get("/<kind>/<int:post_id>")
def detail(kind: str, post_id: int):
    post = _public_post(kind, post_id)
    code = post.member_organization_code
    organization = db.session.get(Organization, code) if code else None
    return render_template("membership/info/detail.html", post=post, fields=FIELDS[post.kind],
                           publisher=ORGANIZATIONS.get(post.organization, post.organization),
                           member_organization=organization)


@bp.route("/<kind>/<int:post_id>/signup", methods=["GET", "POST"])
def signup(kind: str, post_id: int):
    post = _public_post(kind, post_id)
    version = current_version(post.form_id) if post.form_id else None
    if version is None:
        abort(404)
    compiled = compiled_version(version)
    if request.method == "GET":
        return render_template("membership/info/signup.html", post=post, compiled=compiled, form=compiled.bind())
    result = compiled.submit(request.form)
    if not result.ok:
        return render_template("membership/info/signup.html", post=post, compiled=compiled,
                               form=result.form), (200 if result.action != "submit" else 422)
    item = item_for_form(post.form_id)
    from qunti.membership.views import signed_in_resident
    resident = signed_in_resident()
    try:
        submission = intake.accept(version, result.answers, service_item_code=item.code if item else None,
                                   commit=False, resident_user=resident if item else None)
        db.session.add(InfoSignup(post_id=post.id, submission_id=submission.id))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    _remember(submission.tracking_number)
    return redirect(url_for("resident.receipt", number=submission.tracking_number), code=303)


# --- publishers ----------------------------------------------------------------------------------------

def _publisher_organization() -> str:
    return current_user.organization if current_user.role == "org_admin" else "joint"


def _scoped(query):
    if current_user.role == "org_admin":
        return query.where(InfoPost.organization == current_user.organization)
    return query


def _own_post(post_id: int) -> InfoPost:
    post = db.session.scalar(_scoped(select(InfoPost).where(InfoPost.id == post_id)))
    if post is None:
        abort(404)
    return post


def _form_choices() -> list[tuple[str, str]]:
    """Forms a post may link: those of enabled service items, so a sign-up becomes an order."""
    rows = db.session.execute(select(ServiceItem.form_id, ServiceItem.name).where(ServiceItem.enabled.is_(True))
                              .order_by(ServiceItem.position)).all()
    return [(form_id, f"{name}（{form_id}）") for form_id, name in rows]


def _member_organizations() -> list[Organization]:
    query = select(Organization).where(Organization.active.is_(True)).order_by(Organization.name)
    if current_user.role == "org_admin":
        query = query.where(Organization.kind == current_user.organization) \
            if current_user.organization in KINDS else query.where(Organization.code.is_(None))
    return list(db.session.scalars(query))


@staff_bp.get("/<kind>")
@login_required_role(*PUBLISHER_ROLES)
def manage(kind: str):
    kind = _kind(kind)
    found = db.session.scalars(_scoped(select(InfoPost).where(InfoPost.kind == kind))
                               .order_by(InfoPost.created_at.desc()).limit(200)).all()
    counts = dict(db.session.execute(select(InfoSignup.post_id, func.count()).where(
        InfoSignup.post_id.in_([p.id for p in found])).group_by(InfoSignup.post_id)).all()) if found else {}
    return render_template("membership/info/staff_list.html", kind=kind, kinds=INFO_KINDS, posts=found,
                           counts=counts)


def _read_post(post: InfoPost, form) -> str | None:
    """Copy the editor's fields onto ``post``; the problem in Chinese, or None."""
    values = {name: (form.get(name) or "").strip() for name in LIMITS}
    if not values["title"]:
        return "请填写标题。"
    for name, limit in LIMITS.items():
        if len(values[name]) > limit:
            return f"内容太长：最多 {limit} 个字。"
    fields = FIELDS[post.kind]
    starts_on = None
    if "starts_on" in fields and form.get("starts_on"):
        try:
            starts_on = date.fromisoformat(form["starts_on"])
        except ValueError:
            return f"{fields['starts_on']}须是日期，形如 2026-10-08。"
    form_id = form.get("form_id") or None
    if form_id and ("form_id" not in fields or form_id not in dict(_form_choices())):
        return "请选择报名表单。"
    member_org = form.get("member_organization") or None
    if member_org and member_org not in {o.code for o in _member_organizations()}:
        return "请选择基层组织。"
    post.title, post.summary, post.body = values["title"], values["summary"], values["body"]
    for name in ("place", "employer", "pay", "contact"):
        setattr(post, name, values[name] if name in fields else "")
    post.starts_on, post.form_id = starts_on, form_id
    post.member_organization_code = member_org if post.kind == "life" else None
    return None


@staff_bp.route("/<kind>/new", methods=["GET", "POST"])
@staff_bp.route("/<kind>/<int:post_id>/edit", methods=["GET", "POST"])
@login_required_role(*PUBLISHER_ROLES)
def edit(kind: str, post_id: int | None = None):
    kind = _kind(kind)
    post = _own_post(post_id) if post_id is not None else \
        InfoPost(kind=kind, organization=_publisher_organization())
    if post.kind != kind:
        abort(404)
    error = None
    if request.method == "POST":
        error = _read_post(post, request.form)
        if error is None:
            if post.id is None:
                post.created_by_user_id = current_user.id
                db.session.add(post)
            if request.form.get("publish") and post.published_at is None:
                post.published_at, post.withdrawn_at = utcnow(), None
            db.session.commit()
            flash("已保存" + ("并发布。" if post.published_at else "（未发布）。"), "success")
            return redirect(url_for(".manage", kind=kind), code=303)
    return render_template("membership/info/staff_edit.html", post=post, kind=kind, kinds=INFO_KINDS,
                           fields=FIELDS[kind], form_choices=_form_choices(), error=error,
                           organizations=_member_organizations()), (422 if error else 200)


@staff_bp.post("/posts/<int:post_id>/<any(publish, withdraw):action>")
@login_required_role(*PUBLISHER_ROLES)
def publish(post_id: int, action: str):
    post = _own_post(post_id)
    if action == "publish":
        post.published_at, post.withdrawn_at = post.published_at or utcnow(), None
    else:
        post.withdrawn_at = utcnow()
    db.session.commit()
    flash("已发布。" if action == "publish" else "已撤下，居民不再看到。", "success")
    return redirect(url_for(".manage", kind=post.kind), code=303)


@staff_bp.get("/posts/<int:post_id>/signups")
@login_required_role(*PUBLISHER_ROLES)
def signups(post_id: int):
    post = _own_post(post_id)
    rows = db.session.execute(
        select(InfoSignup, Submission).join(Submission, Submission.id == InfoSignup.submission_id)
        .where(InfoSignup.post_id == post.id).order_by(InfoSignup.id)).all()
    listed = [{"number": s.tracking_number, "at": signup.created_at, "name": mask_name(s.answers.get("name")),
               "phone": mask_phone(s.answers.get("phone"))} for signup, s in rows]
    return render_template("membership/info/signups.html", post=post, rows=listed)


def member_life_posts(organization_codes: list[str]) -> list[InfoPost]:
    """组织生活 posts for members of these organizations (and those addressed to everyone)."""
    return list(db.session.scalars(_published().where(InfoPost.kind == "life", or_(
        InfoPost.member_organization_code.in_(organization_codes), InfoPost.member_organization_code.is_(None)))
        .order_by(InfoPost.published_at.desc()).limit(5)))
