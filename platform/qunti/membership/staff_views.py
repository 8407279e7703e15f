"""Staff pages of membership: join applications and transfers (decided by the handler of the unit
the order was routed to), members (list, CSV export, revocation), QR codes and organizations.

Identity data is masked on every page here except the application page of the handler whose unit
decides it (and of whoever decided it). Every view is guarded by ``login_required_role``; rows are
limited by :func:`scope` so an id typed into the address bar never reaches past the user's scope.
"""
from __future__ import annotations

import re
from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import Select, false, func, select

from qunti.accounts.access import SHARED_ORGANIZATION, forbidden, login_required_role, scope_orders
from qunti.db import db, utcnow
from qunti.directory.models import Station
from qunti.masking import mask_id_number, mask_name, mask_phone
from qunti.membership import cards, codes, identity, join, posters, transfer
from qunti.membership.cycle import DecisionError
from qunti.membership.models import (
    APPLICATION_STATES, CATEGORIES, KIND_UNITS, KINDS, MEMBER_WORDS, MEMBERSHIP_STATUSES, TRANSFER_STATES,
    JoinApplication, JoinCode, Member, Membership, Organization, TransferRequest)
from qunti.orders import calendar
from qunti.orders.models import Order
from qunti.reports.export import to_csv, to_xlsx

bp = Blueprint("member_staff", __name__, url_prefix="/staff/membership")

CASE_ROLES = ("station_staff", "dispatcher", "handler", "org_admin", "sys_admin")
MEMBER_ROLES = ("handler", "org_admin", "sys_admin")
ADMIN_ROLES = ("org_admin", "sys_admin")
EXPORT_ROLES = ("org_admin",)  # exports of personal data: the organization's own admin only
CODE_ROLES = ("station_staff", "brand_lead", "org_admin", "sys_admin")  # brand leads: activity codes only
PAGE_SIZE = 50


# --- scope ----------------------------------------------------------------------------------------

def user_kinds(user) -> tuple[str, ...]:
    """The kinds of membership ``user`` looks after: an organization admin their organization's, a
    handler of an organization unit that unit's, a system admin all."""
    if user.role == "sys_admin":
        return tuple(KINDS)
    if user.role == "org_admin":
        return (user.organization,) if user.organization in KINDS else ()
    if user.role == "handler":
        return tuple(kind for kind, unit in KIND_UNITS.items() if unit == user.unit_code)
    return ()


def scope_cases(query: Select, user, kind_column) -> Select:
    """Applications or transfers (a query joined with their Order): an organization admin sees its
    kind; everyone else what :func:`scope_orders` lets them see of the orders."""
    if user.role == "org_admin":
        kinds = user_kinds(user)
        return query.where(kind_column.in_(kinds)) if kinds else query.where(false())
    return scope_orders(query, user)


def _application(application_id: int) -> tuple[JoinApplication, Order]:
    row = db.session.execute(scope_cases(
        select(JoinApplication, Order).join(Order, Order.id == JoinApplication.order_id)
        .where(JoinApplication.id == application_id), current_user, JoinApplication.kind)).first()
    if row is None:
        abort(404)
    return row[0], row[1]


def _transfer(transfer_id: int) -> tuple[TransferRequest, Order]:
    row = db.session.execute(scope_cases(
        select(TransferRequest, Order).join(Order, Order.id == TransferRequest.order_id)
        .join(Membership, Membership.id == TransferRequest.membership_id)
        .where(TransferRequest.id == transfer_id), current_user, Membership.kind)).first()
    if row is None:
        abort(404)
    return row[0], row[1]


def may_see_identity(user, order: Order, decided_by: int | None, pending: bool) -> bool:
    """The approving handler: a handler of the unit deciding the case while it is open, or the
    person who decided it."""
    if decided_by is not None and decided_by == user.id:
        return True
    return pending and user.role == "handler" and bool(user.unit_code) and user.unit_code == order.unit_code


# --- home -------------------------------------------------------------------------------------------

@bp.get("/")
@login_required_role(*CASE_ROLES)
def index():
    pending_applications = db.session.scalar(scope_cases(
        select(func.count()).select_from(JoinApplication).join(Order, Order.id == JoinApplication.order_id)
        .where(JoinApplication.state == "pending"), current_user, JoinApplication.kind))
    pending_transfers = db.session.scalar(scope_cases(
        select(func.count()).select_from(TransferRequest).join(Order, Order.id == TransferRequest.order_id)
        .join(Membership, Membership.id == TransferRequest.membership_id)
        .where(TransferRequest.state == "pending"), current_user, Membership.kind))
    return render_template("membership/staff/index.html", pending_applications=pending_applications,
                           pending_transfers=pending_transfers, admin_roles=ADMIN_ROLES, code_roles=CODE_ROLES,
                           may_list_members=current_user.role in MEMBER_ROLES and bool(user_kinds(current_user)))


# --- join applications ------------------------------------------------------------------------------

@bp.get("/applications")
@login_required_role(*CASE_ROLES)
def applications():
    state = request.args.get("state", "pending")
    query = scope_cases(select(JoinApplication, Order).join(Order, Order.id == JoinApplication.order_id),
                        current_user, JoinApplication.kind)
    if state in APPLICATION_STATES:
        query = query.where(JoinApplication.state == state)
    rows = db.session.execute(query.order_by(JoinApplication.id.desc()).limit(200)).all()
    return render_template("membership/staff/applications.html", rows=rows, state=state, states=APPLICATION_STATES)


@bp.get("/applications/<int:application_id>")
@login_required_role(*CASE_ROLES)
def application(application_id: int):
    application, order = _application(application_id)
    full = may_see_identity(current_user, order, application.decided_by_user_id, application.state == "pending")
    id_number = identity.decrypt(application.id_number_enc)
    phone = identity.decrypt(application.phone_enc)
    person = {"name": application.name if full else mask_name(application.name),
              "id_number": id_number if full else mask_id_number(id_number),
              "phone": phone if full else mask_phone(phone)}
    membership = db.session.get(Membership, application.membership_id) if application.membership_id else None
    response = Response(render_template(
        "membership/staff/application.html", application=application, order=order, person=person, full=full,
        membership=membership, word=MEMBER_WORDS[application.kind], categories=CATEGORIES,
        can_decide=application.state == "pending" and _may_decide(order)))
    response.headers["Cache-Control"] = "no-store"
    return response


def _may_decide(order: Order) -> bool:
    return current_user.role == "sys_admin" or (
        current_user.role == "handler" and current_user.unit_code == order.unit_code)


def _decided(target: str, action, *args):
    try:
        action(*args)
    except DecisionError as refused:
        flash(refused.message, "error")
    else:
        flash("已办理。", "success")
    return redirect(target, code=303)


@bp.post("/applications/<int:application_id>/approve")
@login_required_role("handler", "sys_admin")
def approve(application_id: int):
    application, _order = _application(application_id)
    return _decided(url_for(".application", application_id=application_id), join.approve, application,
                    current_user)


@bp.post("/applications/<int:application_id>/decline")
@login_required_role("handler", "sys_admin")
def decline(application_id: int):
    application, _order = _application(application_id)
    return _decided(url_for(".application", application_id=application_id), join.decline, application,
                    current_user, request.form.get("reason", ""))


# --- transfers ---------------------------------------------------------------------------------------

@bp.get("/transfers")
@login_required_role(*CASE_ROLES)
def transfers():
    state = request.args.get("state", "pending")
    query = scope_cases(
        select(TransferRequest, Order).join(Order, Order.id == TransferRequest.order_id)
        .join(Membership, Membership.id == TransferRequest.membership_id), current_user, Membership.kind)
    if state in TRANSFER_STATES:
        query = query.where(TransferRequest.state == state)
    rows = db.session.execute(query.order_by(TransferRequest.id.desc()).limit(200)).all()
    return render_template("membership/staff/transfers.html", rows=rows, state=state, states=TRANSFER_STATES)


@bp.get("/transfers/<int:transfer_id>")
@login_required_role(*CASE_ROLES)
def transfer_detail(transfer_id: int):
    request_, order = _transfer(transfer_id)
    member = request_.membership.member
    full = may_see_identity(current_user, order, request_.decided_by_user_id, request_.state == "pending")
    id_number, phone = identity.decrypt(member.id_number_enc), identity.decrypt(member.phone_enc)
    person = {"name": member.name if full else mask_name(member.name),
              "id_number": id_number if full else mask_id_number(id_number),
              "phone": phone if full else mask_phone(phone)}
    response = Response(render_template(
        "membership/staff/transfer.html", transfer=request_, order=order, person=person,
        can_decide=request_.state == "pending" and _may_decide(order)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/transfers/<int:transfer_id>/accept")
@login_required_role("handler", "sys_admin")
def transfer_accept(transfer_id: int):
    request_, _order = _transfer(transfer_id)
    return _decided(url_for(".transfer_detail", transfer_id=transfer_id), transfer.accept, request_, current_user)


@bp.post("/transfers/<int:transfer_id>/refuse")
@login_required_role("handler", "sys_admin")
def transfer_refuse(transfer_id: int):
    request_, _order = _transfer(transfer_id)
    return _decided(url_for(".transfer_detail", transfer_id=transfer_id), transfer.refuse, request_, current_user,
                    request.form.get("reason", ""))


# --- members -------------------------------------------------------------------------------------------

def _members_query():
    kinds = user_kinds(current_user)
    query = (select(Membership, Member, Organization).join(Member, Member.id == Membership.member_id)
             .join(Organization, Organization.code == Membership.organization_code)
             .where(Membership.kind.in_(kinds)))
    organization = request.args.get("organization", "")
    if organization:
        query = query.where(Membership.organization_code == organization)
    status = request.args.get("status", "active")
    if status in MEMBERSHIP_STATUSES:
        query = query.where(Membership.status == status)
    return query.order_by(Membership.organization_code, Membership.joined_on, Membership.id), organization, status


@bp.get("/members")
@login_required_role(*MEMBER_ROLES)
def members():
    if not user_kinds(current_user):
        forbidden("您所在的单位不负责会员工作，没有会员名册可以查看。")
    query, organization, status = _members_query()
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    rows = db.session.execute(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    listed = [{"membership": m, "name": mask_name(p.name), "phone": mask_phone(identity.decrypt(p.phone_enc)),
               "organization": o} for m, p, o in rows]
    organizations = db.session.scalars(select(Organization).where(
        Organization.kind.in_(user_kinds(current_user))).order_by(Organization.name)).all()
    return render_template("membership/staff/members.html", rows=listed, total=total, page=page,
                           pages=pages, organizations=organizations,
                           organization=organization, status=status, statuses=MEMBERSHIP_STATUSES,
                           may_export=current_user.role in EXPORT_ROLES, may_revoke=current_user.role in ADMIN_ROLES)


@bp.get("/members.<any(csv, xlsx):fmt>")
@login_required_role(*EXPORT_ROLES)
def members_export(fmt: str):
    """名册导出: an organization's admin, its own members only, ID numbers, phones and names masked;
    every export is written to the audit log."""
    from qunti.admin.audit import record

    kinds = user_kinds(current_user)
    if not kinds:
        forbidden("您所在的群团组织没有会员名册可以导出。")
    query, organization, status = _members_query()
    rows = db.session.execute(query).all()
    head = ["组织", "类别", "姓名", "身份证号", "手机号", "证号", "加入日期", "结束日期", "状态", "工作单位"]
    lines = [[o.name, KINDS.get(m.kind, m.kind), mask_name(p.name),
              mask_id_number(identity.decrypt(p.id_number_enc)), mask_phone(identity.decrypt(p.phone_enc)),
              m.number, m.joined_on.isoformat(), m.ended_on.isoformat() if m.ended_on else "",
              MEMBERSHIP_STATUSES.get(m.status, m.status), m.workplace]
             for m, p, o in rows]
    record("export", "member", organization or ",".join(kinds),
           after={"format": fmt, "rows": len(lines), "organization": organization, "status": status})
    db.session.commit()
    if fmt == "csv":
        response = Response(to_csv(head, lines), mimetype="text/csv")
    else:
        response = Response(to_xlsx(head, lines, title="会员名册（身份信息已打码）", sheet_name="会员名册"),
                            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f'attachment; filename="members.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/members/<int:membership_id>/revoke")
@login_required_role(*ADMIN_ROLES)
def revoke(membership_id: int):
    """注销: the membership ends today and its card verifies as 已注销 from the next scan."""
    from qunti.admin.audit import record

    membership = db.session.get(Membership, membership_id)
    if membership is None or membership.kind not in user_kinds(current_user):
        abort(404)
    reason = (request.form.get("reason") or "").strip()
    if not reason or len(reason) > 300:
        flash("请填写注销理由（不超过 300 个字）。", "error")
    elif membership.status != "active":
        flash(f"这个身份{membership.status_name}，无需再注销。", "error")
    else:
        membership.status, membership.ended_on, membership.end_reason = "revoked", calendar.today(), reason
        cards.revoke_cards(membership)
        record("revoke", "membership", membership.number, before={"status": "active"},
               after={"status": "revoked", "reason": reason})
        db.session.commit()
        flash(f"已注销证号 {membership.number}，电子会员证即时失效。", "success")
    return redirect(url_for(".members", organization=membership.organization_code), code=303)


# --- QR codes --------------------------------------------------------------------------------------------

def _activity_organizations(user) -> tuple[str, ...] | None:
    """Whose activities ``user`` prints codes for (as :mod:`qunti.activities` lets them run them):
    a brand lead their organization's, an organization admin also the joint ones; None: any."""
    if user.role == "brand_lead":
        return (user.organization,)
    if user.role == "org_admin":
        return (user.organization, SHARED_ORGANIZATION)
    return None


def _codes_scope(query: Select) -> Select:
    from qunti.activities.models import Activity
    user = current_user
    if user.role == "station_staff":
        return query.where(JoinCode.station_code == user.station_code)
    owners = _activity_organizations(user)
    if owners is None:
        return query
    activities = JoinCode.activity_id.in_(select(Activity.id).where(Activity.organization.in_(owners)))
    if user.role == "brand_lead":
        return query.where(activities)
    mine = select(Organization.code).where(Organization.kind.in_(user_kinds(user)))
    return query.where(JoinCode.organization_code.in_(mine) | activities)


def _code(code_id: int) -> JoinCode:
    code = db.session.scalar(_codes_scope(select(JoinCode).where(JoinCode.id == code_id)))
    if code is None:
        abort(404)
    return code


def _code_organizations() -> list[Organization]:
    if current_user.role == "brand_lead":
        return []
    query = select(Organization).where(Organization.active.is_(True)) \
        .order_by(Organization.kind, Organization.name)
    if current_user.role == "org_admin":
        query = query.where(Organization.kind.in_(user_kinds(current_user)))
    return list(db.session.scalars(query))


def _code_activities() -> list:
    from qunti.activities.models import Activity
    query = select(Activity).where(Activity.status == "published",
                                   Activity.starts_at >= utcnow() - timedelta(days=1))
    owners = _activity_organizations(current_user)
    if current_user.role == "station_staff":
        query = query.where(Activity.station_code == current_user.station_code)
    elif owners is not None:
        query = query.where(Activity.organization.in_(owners))
    return list(db.session.scalars(query.order_by(Activity.starts_at).limit(100)))


@bp.get("/codes")
@login_required_role(*CODE_ROLES)
def code_list():
    found = db.session.scalars(_codes_scope(select(JoinCode)).order_by(JoinCode.id.desc()).limit(200)).all()
    return render_template("membership/staff/codes.html", codes=found, state=codes.code_state,
                           organizations=_code_organizations(), activities=_code_activities(),
                           stations=_code_stations(), default_days=current_app.config["JOIN_CODE_VALID_DAYS"])


def _code_stations() -> list[Station]:
    if current_user.role == "station_staff":
        return [db.session.get(Station, current_user.station_code)]
    if current_user.role == "brand_lead":
        return []
    return list(db.session.scalars(select(Station).order_by(Station.code)))


@bp.post("/codes")
@login_required_role(*CODE_ROLES)
def code_create():
    form = request.form
    purpose = form.get("purpose", "join")
    station_code = current_user.station_code if current_user.role == "station_staff" \
        else (form.get("station") or None)
    workplace = (form.get("workplace") or "").strip()
    raw_days = (form.get("days") or "").strip() or str(current_app.config["JOIN_CODE_VALID_DAYS"])
    days = int(raw_days) if raw_days.isdecimal() and len(raw_days) <= 5 else 0  # 0: refused below
    problem = None
    if station_code and db.session.get(Station, station_code) is None:
        problem = "请选择服务站。"
    elif len(workplace) > 100:
        problem = "单位名称不能超过 100 个字。"
    elif not 1 <= days <= 3650:
        problem = "有效天数须是 1 到 3650 之间的整数。"
    code = JoinCode(purpose=purpose, station_code=station_code, workplace=workplace,
                    created_by_user_id=current_user.id)
    if purpose == "join":
        organization = next((o for o in _code_organizations() if o.code == form.get("organization")), None)
        if organization is None:
            problem = problem or "请选择要加入的组织。"
        else:
            code.organization_code = organization.code
            station = db.session.get(Station, station_code) if station_code else None
            code.label = workplace or (station.name if station else organization.name)
    elif purpose == "activity":
        activity = next((a for a in _code_activities() if str(a.id) == form.get("activity")), None)
        if activity is None:
            problem = problem or "请选择活动。"
        else:
            code.activity_id, code.label = activity.id, activity.title[:100]
    else:
        problem = "不认识的二维码用途。"
    if problem:
        flash(problem, "error")
        return redirect(url_for(".code_list"), code=303)
    code.expires_at = codes.default_expiry(days)
    db.session.add(code)
    db.session.commit()
    flash("二维码已生成，可以打印张贴。", "success")
    return redirect(url_for(".code_poster", code_id=code.id), code=303)


def _scan_url(code: JoinCode) -> str:
    return url_for("membership.scanned", token=codes.token_for(code), _external=True)


@bp.get("/codes/<int:code_id>/poster")
@login_required_role(*CODE_ROLES)
def code_poster(code_id: int):
    """A printable poster page: the code, the name under it and what to do."""
    code = _code(code_id)
    return render_template("membership/staff/poster.html", code=code, scan_url=_scan_url(code),
                           state=codes.code_state(code), png_named=posters.png_font() is not None)


@bp.get("/codes/<int:code_id>.<any(svg, png):fmt>")
@login_required_role(*CODE_ROLES)
def code_image(code_id: int, fmt: str):
    """The poster image: the code with its name (station or workplace) beneath, SVG or PNG."""
    code = _code(code_id)
    if fmt == "svg":
        response = Response(posters.poster_svg(_scan_url(code), code.label), mimetype="image/svg+xml")
    else:
        response = Response(posters.poster_png(_scan_url(code), code.label), mimetype="image/png")
    response.headers["Cache-Control"] = "private, no-store"  # a revoked code should not linger
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="qr-{code.id}.{fmt}"'
    return response


@bp.post("/codes/<int:code_id>/revoke")
@login_required_role(*CODE_ROLES)
def code_revoke(code_id: int):
    code = _code(code_id)
    if code.revoked_at is None:
        code.revoked_at, code.revoked_by_user_id = utcnow(), current_user.id
        db.session.commit()
        flash("二维码已停用：再扫描会提示已停用。", "success")
    return redirect(url_for(".code_list"), code=303)


# --- organizations -----------------------------------------------------------------------------------------

@bp.route("/organizations", methods=["GET", "POST"])
@login_required_role(*ADMIN_ROLES)
def organizations():
    kinds = user_kinds(current_user)
    if not kinds:
        forbidden("您所在的群团组织没有会员组织可以管理。")
    if request.method == "POST":
        code, name = (request.form.get("code") or "").strip().lower(), (request.form.get("name") or "").strip()
        kind, station = request.form.get("kind"), request.form.get("station") or None
        if kind not in kinds:
            flash("请选择组织类别。", "error")
        elif not re.fullmatch(r"[a-z0-9-]{2,40}", code) or db.session.get(Organization, code) is not None:
            flash("编码须是 2 到 40 位小写字母、数字或连字符，且不能与已有组织重复。", "error")
        elif not 2 <= len(name) <= 100:
            flash("请填写组织名称（2 到 100 个字）。", "error")
        elif station and db.session.get(Station, station) is None:
            flash("请选择服务站。", "error")
        else:
            db.session.add(Organization(code=code, name=name, kind=kind, station_code=station))
            db.session.commit()
            flash(f"已添加“{name}”。", "success")
        return redirect(url_for(".organizations"), code=303)
    found = db.session.scalars(select(Organization).where(Organization.kind.in_(kinds))
                               .order_by(Organization.kind, Organization.name)).all()
    counts = dict(db.session.execute(select(Membership.organization_code, func.count()).where(
        Membership.status == "active").group_by(Membership.organization_code)).all())
    return render_template("membership/staff/organizations.html", organizations=found, counts=counts,
                           kinds={k: KINDS[k] for k in kinds},
                           stations=db.session.scalars(select(Station).order_by(Station.code)).all())


@bp.post("/organizations/<code>/toggle")
@login_required_role(*ADMIN_ROLES)
def organization_toggle(code: str):
    organization = db.session.get(Organization, code)
    if organization is None or organization.kind not in user_kinds(current_user):
        abort(404)
    organization.active = not organization.active
    db.session.commit()
    flash(f"“{organization.name}”已{'启用' if organization.active else '停用'}。", "success")
    return redirect(url_for(".organizations"), code=303)
