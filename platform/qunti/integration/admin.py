"""The system admin's pages for 互联互通: issue and revoke API keys, register webhooks, read the
delivery log (every attempt, with its status code, error and duration)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from qunti.accounts.access import login_required_role
from qunti.accounts.models import ROLES, User
from qunti.db import db
from qunti.integration import keys as api_keys
from qunti.integration import webhooks
from qunti.integration.models import SCOPES, ApiKey, WebhookAttempt, WebhookDelivery, WebhookSubscription

bp = Blueprint("integration_admin", __name__, url_prefix="/integration")
ADMIN = "sys_admin"


def _no_store(response):
    # A page that shows a key or a secret once must not be kept by the browser or a proxy.
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


def _keys_page(issued: tuple[ApiKey, str] | None = None, status: int = 200):
    rows = db.session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())).all()
    users = db.session.scalars(select(User).where(User.role != "resident", User.active.is_(True))
                               .order_by(User.username)).all()
    return _no_store((render_template("integration/keys.html", keys=rows, users=users, scopes=SCOPES, roles=ROLES,
                                      issued=issued), status))


@bp.get("/keys")
@login_required_role(ADMIN)
def keys():
    return _keys_page()


@bp.post("/keys")
@login_required_role(ADMIN)
def issue_key():
    user = db.session.scalar(select(User).where(User.username == request.form.get("username", "")))
    if user is None:
        flash("请选择密钥代表的工作人员账号。", "error")
        return redirect(url_for(".keys"), code=303)
    try:
        issued = api_keys.issue(user, request.form.get("name", ""), request.form.getlist("scope"),
                                created_by=current_user.signature)
    except api_keys.KeyRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for(".keys"), code=303)
    return _keys_page(issued, 201)


@bp.post("/keys/<int:key_id>/revoke")
@login_required_role(ADMIN)
def revoke_key(key_id: int):
    row = db.session.get(ApiKey, key_id)
    if row is None:
        abort(404)
    api_keys.revoke(row)
    flash(f"已吊销密钥“{row.name}”（{row.prefix}），使用它的请求将被拒绝。", "success")
    return redirect(url_for(".keys"), code=303)


@bp.get("/webhooks")
@login_required_role(ADMIN)
def webhooks_index():
    subscriptions = db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)).all()
    counts = {(sid, status): n for sid, status, n in db.session.execute(
        select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count())
        .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status))}
    recent = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(50)).all()
    return _no_store(render_template("integration/webhooks.html", subscriptions=subscriptions, counts=counts,
                                     recent=recent, events=webhooks.EVENT_CHOICES, created=None))


@bp.post("/webhooks")
@login_required_role(ADMIN)
def create_webhook():
    try:
        row = webhooks.subscribe(request.form.get("url", ""), request.form.get("event_type", ""),
                                 description=request.form.get("description", ""), created_by=current_user.signature)
    except webhooks.UrlRefused as exc:
        flash(f"未登记：{exc}", "error")
        return redirect(url_for(".webhooks_index"), code=303)
    flash("已登记。请把下面的签名密钥交给接收方，用来校验 X-Qunti-Signature；它只显示这一次。", "success")
    subscriptions = db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)).all()
    return _no_store((render_template("integration/webhooks.html", subscriptions=subscriptions, counts={},
                                      recent=[], events=webhooks.EVENT_CHOICES, created=row), 201))


@bp.post("/webhooks/<int:subscription_id>/toggle")
@login_required_role(ADMIN)
def toggle_webhook(subscription_id: int):
    row = db.session.get(WebhookSubscription, subscription_id)
    if row is None:
        abort(404)
    row.active = not row.active
    db.session.commit()
    flash("已启用。" if row.active else "已停用：不再产生新的推送，未送达的将不再重试。", "success")
    return redirect(url_for(".webhooks_index"), code=303)


@bp.get("/deliveries/<int:delivery_id>")
@login_required_role(ADMIN)
def delivery(delivery_id: int):
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is None:
        abort(404)
    attempts = db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == row.id)
                                  .order_by(WebhookAttempt.id)).all()
    return render_template("integration/delivery.html", delivery=row, attempts=attempts,
                           body=webhooks.body_of(row).decode("utf-8"))


@bp.post("/deliveries/<int:delivery_id>/retry")
@login_required_role(ADMIN)
def retry_delivery(delivery_id: int):
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is None:
        abort(404)
    if row.status != "failed":
        flash("只有已放弃的推送需要重新发送。", "error")
    else:
        webhooks.retry(row)
        flash("已重新排队，下次 qunti tick 时发送。", "success")
    return redirect(url_for(".delivery", delivery_id=row.id), code=303)
