"""Brand activity pages: residents browse and sign up, staff check people in at the door, brand
leads publish activities and download who signed up.

Only activities of enabled plugins exist for residents: a disabled plugin's activities, brand page,
sign-up forms and confirmation pages answer 404 at once, and come back when it is enabled again.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import NamedTuple
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import bindparam, case, func, select

from qunti import plugins
from qunti.accounts.access import forbidden, login_required_role
from qunti.activities import export, seats, tokens
from qunti.activities.forms import ActivityForm, CapacityForm, to_utc
from qunti.activities.models import Activity, ActivitySignup
from qunti.db import db, utcnow
from qunti.directory.models import Station
from qunti.forms.registry import compiled_version, current_version
from qunti.menu.models import ORGANIZATIONS
from qunti.plugins import eligibility
from qunti.qr import qr_response
from qunti.staff.present import local, station_name
from qunti.staff.present import zone as local_zone

bp = Blueprint("activities", __name__, url_prefix="/activities")

CHECKIN_ROLES = ("station_staff", "brand_lead", "org_admin", "sys_admin")
MANAGE_ROLES = ("brand_lead", "org_admin", "sys_admin")
PUBLISH_ROLES = ("brand_lead", "sys_admin")
SHARED_ORGANIZATION = "joint"


# -- what residents may see --------------------------------------------------------------------

def _live_plugins() -> set[str]:
    """Installed and enabled plugin ids."""
    return set(plugins.current().plugins) & plugins.enabled_ids()


def _public_activity(activity_id: int) -> Activity:
    activity = db.session.get(Activity, activity_id)
    if activity is None or activity.plugin_id not in _live_plugins():
        abort(404)
    return activity


def _type(activity: Activity):
    return plugins.current().activity_types.get(activity.type_id)


def _rule_context(activity: Activity) -> dict:
    return {"id": activity.id, "title": activity.title, "type": activity.type_id,
            "organization": activity.organization, "date": local(activity.starts_at).date().isoformat()}


@bp.app_template_global("activity_type_name")
def activity_type_name(type_id: str) -> str:
    found = plugins.current().activity_types.get(type_id)
    return found.name if found else type_id


@bp.app_template_global("plugin_name")
def plugin_name(plugin_id: str) -> str:
    found = plugins.current().get(plugin_id)
    return found.name if found else plugin_id


# Upcoming published activities of some plugins, as plain rows: built once as a Core statement
# with bound parameters (a list page runs it on every visit; building and ORM-loading it per
# request cost three times the query itself).
_ACTIVITY = Activity.__table__
_UPCOMING = (
    select(_ACTIVITY.c.id, _ACTIVITY.c.plugin_id, _ACTIVITY.c.type_id, _ACTIVITY.c.title, _ACTIVITY.c.starts_at,
           _ACTIVITY.c.place, _ACTIVITY.c.station_code, _ACTIVITY.c.capacity, _ACTIVITY.c.taken)
    .where(_ACTIVITY.c.status == "published", _ACTIVITY.c.starts_at > bindparam("now"),
           _ACTIVITY.c.plugin_id.in_(bindparam("plugins", expanding=True)))
    .order_by(_ACTIVITY.c.starts_at, _ACTIVITY.c.id).limit(100))


class Card(NamedTuple):
    """What a list row shows of one activity (attributes, so templates read them without a lookup
    that first fails on a dict)."""

    url: str
    title: str
    when: str
    where: str
    brand: str
    type: str
    seats: str


def _upcoming(plugin_ids: Collection[str]) -> list[Card]:
    """Activities still to come of ``plugin_ids``, each worked out here into what a list row shows
    (in one pass, rather than by filters and macros per row)."""
    if not plugin_ids:
        return []
    rows = db.session.execute(_UPCOMING, {"now": utcnow(), "plugins": sorted(plugin_ids)}).all()
    installed = plugins.current()
    # One url_for per page, not per row: /activities/<id> is the detail route (see ``detail``).
    prefix = url_for(".index")
    zone = local_zone()
    cards = []
    for row in rows:
        kind = installed.activity_types.get(row.type_id)
        plugin = installed.get(row.plugin_id)
        where = row.place if not row.station_code else \
            " · ".join(part for part in (station_name(row.station_code), row.place) if part)
        starts = seats.aware(row.starts_at).astimezone(zone).replace(tzinfo=None)
        cards.append(Card(url=f"{prefix}{row.id}", title=row.title, when=starts.isoformat(" ", "minutes"), where=where,
                          brand=plugin.name if plugin else row.plugin_id, type=kind.name if kind else row.type_id,
                          seats=_seats(row.capacity - row.taken)))
    return cards


@bp.get("/")
def index():
    live = _live_plugins()
    brand = request.args.get("brand")
    if brand is not None and brand not in live:
        abort(404)
    shown = {brand} if brand else live
    upcoming = _upcoming(shown)
    installed = plugins.current()
    # One url_for for the filter links, not one per brand (this page runs on every visit).
    everything = url_for(".index")
    brands = [(p, f"{everything}?{urlencode({'brand': p.id})}") for p in installed
              if p.id in live and installed.types_of(p.id)]
    return render_template("activities/index.html", activities=upcoming, brands=brands, everything=everything,
                           brand=installed.get(brand) if brand else None)


@bp.get("/brands/<plugin_id>")
def brand(plugin_id: str):
    plugin = plugins.current().get(plugin_id)
    if plugin is None or plugin_id not in plugins.enabled_ids():
        abort(404)
    return render_template("activities/brand.html", plugin=plugin, types=plugins.current().types_of(plugin_id),
                           activities=_upcoming({plugin_id}), organizations=ORGANIZATIONS)


@bp.get("/<int:activity_id>")
def detail(activity_id: int):
    activity = _public_activity(activity_id)
    return render_template("activities/detail.html", activity=activity, kind=_type(activity),
                           closed=seats.open_problem(activity))


@bp.get("/<int:activity_id>/poster.svg")
def poster_qr(activity_id: int):
    """The QR code a station prints on the activity's poster: scan, fill, done."""
    activity = _public_activity(activity_id)
    return qr_response(url_for(".signup", activity_id=activity.id, via="qr", _external=True))


@bp.route("/<int:activity_id>/signup", methods=["GET", "POST"])
def signup(activity_id: int):
    activity = _public_activity(activity_id)
    kind = _type(activity)
    version = current_version(kind.form) if kind is not None else None
    if version is None:
        abort(404)
    closed = seats.open_problem(activity)
    if closed:
        return render_template("activities/detail.html", activity=activity, kind=kind, closed=closed), 409
    compiled = compiled_version(version)
    page = {"activity": activity, "kind": kind, "compiled": compiled}
    if request.method == "GET":
        return render_template("activities/signup.html", form=compiled.bind(), **page)
    result = compiled.submit(request.form)
    if not result.ok:
        status = 200 if result.action != "submit" else 422
        return render_template("activities/signup.html", form=result.form, errors=result.errors, **page), status
    context = _rule_context(activity)
    refusals = [r.message for r in eligibility.refusals(
        plugins.current().eligibility_rules(kind.form, plugins.enabled_ids()), result.answers, context)]
    refused = plugins.signup_refusal(context, result.answers)
    if refused:
        refusals.append(refused[1])
    if refusals:
        return render_template("activities/signup.html", form=result.form, refusals=refusals, **page), 422
    try:
        made = seats.sign_up(activity.id, version, result.answers,
                             channel="qr" if request.args.get("via") == "qr" else "online",
                             user_id=current_user.id if current_user.is_authenticated else None)
    except seats.SignupError as exc:
        return render_template("activities/signup.html", form=result.form, refusals=[exc.message], **page), 409
    return redirect(url_for(".confirmation", ref=tokens.confirmation_ref(made)), code=303)


def _own_signup(ref: str) -> ActivitySignup:
    try:
        signup_id = tokens.read_confirmation_ref(ref)
    except tokens.BadToken:
        abort(404)
    signup = db.session.get(ActivitySignup, signup_id)
    if signup is None or signup.activity.plugin_id not in _live_plugins():
        abort(404)
    return signup


@bp.get("/signups/<ref>")
def confirmation(ref: str):
    signup = _own_signup(ref)
    return render_template("activities/confirmation.html", signup=signup, activity=signup.activity, ref=ref,
                           position=seats.waiting_position(signup))


@bp.get("/signups/<ref>/checkin.svg")
def checkin_qr(ref: str):
    signup = _own_signup(ref)
    if signup.status != "confirmed":
        abort(404)
    response = qr_response(url_for(".checkin_scan", token=tokens.checkin_token(signup), _external=True))
    response.headers["Cache-Control"] = "private, no-store"  # a personal pass, not a shared image
    return response


@bp.post("/signups/<ref>/cancel")
def cancel(ref: str):
    signup = _own_signup(ref)
    try:
        seats.cancel(signup.id)
    except seats.SignupError as exc:
        flash(exc.message, "error")
    else:
        flash("已取消报名。名额已让给候补的人。", "info")
    return redirect(url_for(".confirmation", ref=ref), code=303)


# -- staff ---------------------------------------------------------------------------------------

def _may_run(activity: Activity, user) -> bool:
    """Whether ``user`` works for this activity (check-in, sign-up lists)."""
    if user.role == "sys_admin":
        return True
    if user.role == "brand_lead":
        return activity.organization == user.organization
    if user.role == "org_admin":
        return activity.organization in (user.organization, SHARED_ORGANIZATION)
    if user.role == "station_staff":
        return activity.station_code is not None and activity.station_code == user.station_code
    return False


def _checkin_page(token: str = "", signup: ActivitySignup | None = None, error: str | None = None,
                  done: ActivitySignup | None = None, status: int = 200):
    return render_template("activities/checkin.html", token=token, signup=signup, error=error, done=done), status


def _scanned(token: str) -> ActivitySignup:
    """The sign-up a scanned token names; SignupError for a forged one, 403 outside the staff's scope."""
    try:
        signup_id, _nonce = tokens.read_checkin_token(token)
    except tokens.BadToken:
        raise seats.SignupError("二维码无效：签名校验失败，可能是伪造或被改动过的。") from None
    signup = db.session.get(ActivitySignup, signup_id)
    if signup is None:
        raise seats.SignupError("二维码无效：找不到对应的报名。")
    if not _may_run(signup.activity, current_user):
        forbidden("这个活动不归您签到。")
    if signup.activity.plugin_id not in _live_plugins():
        raise seats.SignupError("该活动所属品牌已停用，暂不能签到。")
    return signup


@bp.get("/checkin")
@login_required_role(*CHECKIN_ROLES)
def checkin():
    return _checkin_page()


@bp.get("/checkin/<token>")
@login_required_role(*CHECKIN_ROLES)
def checkin_scan(token: str):
    try:
        return _checkin_page(token=token, signup=_scanned(token))
    except seats.SignupError as exc:
        return _checkin_page(token=token, error=exc.message, status=400)


@bp.post("/checkin")
@login_required_role(*CHECKIN_ROLES)
def checkin_confirm():
    token = (request.form.get("token") or "").strip()
    try:
        signup = _scanned(token)
        signup_id, nonce = tokens.read_checkin_token(token)
        done = seats.check_in(signup_id, nonce, current_user.id)
    except seats.SignupError as exc:
        return _checkin_page(token=token, error=exc.message, status=409)
    return _checkin_page(done=done)


def _manageable(query, user):
    if user.role == "sys_admin":
        return query
    if user.role == "org_admin":
        return query.where(Activity.organization.in_([user.organization, SHARED_ORGANIZATION]))
    return query.where(Activity.organization == user.organization)


def _managed(activity_id: int) -> Activity:
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        abort(404)
    if not _may_run(activity, current_user):
        forbidden("这个活动不属于您的组织。")
    return activity


def _publishable_types(user) -> list:
    """Activity types of enabled plugins the user may publish: a brand lead's own organization only."""
    live = _live_plugins()
    return [t for t in plugins.current().activity_types.values()
            if t.plugin_id in live and (user.role == "sys_admin"
                                        or plugins.current().get(t.plugin_id).organization == user.organization)]


@bp.get("/manage")
@login_required_role(*MANAGE_ROLES)
def manage():
    counts = (select(ActivitySignup.activity_id,
                     func.sum(case((ActivitySignup.status == "waiting", 1), else_=0)).label("waiting"),
                     func.count(ActivitySignup.checked_in_at).label("arrived"))
              .group_by(ActivitySignup.activity_id).subquery())
    rows = db.session.execute(_manageable(
        select(Activity, counts.c.waiting, counts.c.arrived).outerjoin(counts, counts.c.activity_id == Activity.id),
        current_user).order_by(Activity.starts_at.desc()).limit(200)).all()
    return render_template("activities/manage.html", rows=rows, live=_live_plugins(),
                           may_publish=current_user.role in PUBLISH_ROLES and bool(_publishable_types(current_user)))


@bp.route("/manage/new", methods=["GET", "POST"])
@login_required_role(*PUBLISH_ROLES)
def publish():
    types = _publishable_types(current_user)
    if not types:
        forbidden("您所在组织的品牌插件尚未启用，不能发布活动。请先在“插件管理”中启用。")
    form = ActivityForm()
    form.type_id.choices = [(t.id, f"{plugin_name(t.plugin_id)} · {t.name}") for t in types]
    form.station_code.choices = [("", "（不在服务站举办）")] + [
        (s.code, s.name) for s in db.session.scalars(select(Station).order_by(Station.name))]
    if request.method == "GET" and form.capacity.data is None:
        form.capacity.data = types[0].default_capacity
    if form.validate_on_submit():
        kind = next(t for t in types if t.id == form.type_id.data)
        starts = to_utc(form.starts_at.data)
        activity = Activity(plugin_id=kind.plugin_id, type_id=kind.id,
                            organization=plugins.current().get(kind.plugin_id).organization,
                            title=form.title.data.strip(), description=(form.description.data or "").strip(),
                            starts_at=starts, signup_deadline=to_utc(form.signup_deadline.data),
                            place=(form.place.data or "").strip(), station_code=form.station_code.data or None,
                            capacity=form.capacity.data, created_by_user_id=current_user.id)
        db.session.add(activity)
        db.session.commit()
        flash("活动已发布，居民现在可以报名。", "info")
        return redirect(url_for(".signups", activity_id=activity.id), code=303)
    return render_template("activities/publish.html", form=form), (422 if form.errors else 200)


def _signup_rows(activity: Activity) -> list[ActivitySignup]:
    order = case((ActivitySignup.status == "confirmed", 0), (ActivitySignup.status == "waiting", 1), else_=2)
    return list(db.session.scalars(select(ActivitySignup).where(ActivitySignup.activity_id == activity.id)
                                   .order_by(order, ActivitySignup.id)))


@bp.get("/manage/<int:activity_id>")
@login_required_role(*MANAGE_ROLES)
def signups(activity_id: int):
    activity = _managed(activity_id)
    return render_template("activities/signups.html", activity=activity, signups=_signup_rows(activity),
                           full_phone=export.can_see_phone(current_user, activity),
                           capacity_form=CapacityForm(capacity=activity.capacity), live=_live_plugins())


@bp.post("/manage/<int:activity_id>/capacity")
@login_required_role(*PUBLISH_ROLES)
def resize(activity_id: int):
    activity = _managed(activity_id)
    form = CapacityForm()
    if not form.validate_on_submit():
        flash("；".join(form.capacity.errors) or "名额有误", "error")
    else:
        try:
            promoted = seats.resize(activity.id, form.capacity.data)
        except seats.SignupError as exc:
            flash(exc.message, "error")
        else:
            flash(f"名额已改为 {form.capacity.data}。" + (f"{len(promoted)} 位候补已转为报名成功。" if promoted else ""),
                  "info")
    return redirect(url_for(".signups", activity_id=activity_id), code=303)


@bp.get("/manage/<int:activity_id>/signups.<fmt>")
@login_required_role(*MANAGE_ROLES)
def download(activity_id: int, fmt: str):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    activity = _managed(activity_id)
    rows = export.table(activity, _signup_rows(activity), full_phone=export.can_see_phone(current_user, activity))
    stamp = f"{local(utcnow()):%Y%m%d-%H%M}"
    if fmt == "csv":
        body, mimetype = export.as_csv(rows), "text/csv; charset=utf-8"
    else:
        body = export.as_xlsx(rows, activity.title)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename=activity-{activity.id}-signups-{stamp}.{fmt}"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.app_template_filter("seats_text")
def seats_text(activity: Activity) -> str:
    return _seats(activity.seats_left)


def _seats(left: int) -> str:
    return f"剩余 {left} 个名额" if left > 0 else "名额已满，可报名候补"


@bp.app_template_global("deadline_soon")
def deadline_soon(activity: Activity) -> bool:
    return seats.aware(activity.signup_deadline) - utcnow() < timedelta(days=1)
