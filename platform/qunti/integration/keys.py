"""API keys: issued once (only a SHA-256 is stored), revoked at will, each acting as one account
with some of :data:`~qunti.integration.models.SCOPES`, and rate-limited by a fixed window counted
in the database (so the limit holds across workers and hosts)."""
from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import replace

from flask import current_app, g, request
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from qunti.accounts.access import binding_problem
from qunti.accounts.models import User
from qunti.api.errors import ApiError
from qunti.db import db, utcnow
from qunti.integration.models import SCOPES, ApiKey, ApiRateWindow
from qunti.orders.transitions import Actor, staff_actor

KEY_PREFIX = "qk_"


class KeyRefused(ValueError):
    """A key that cannot be issued or revoked; the message says why (Chinese)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue(user: User, name: str, scopes: Iterable[str], *, created_by: str = "") -> tuple[ApiKey, str]:
    """A new key acting as ``user``; returns the row and the key itself (shown once, never stored)."""
    scopes = sorted(set(scopes))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise KeyRefused(f"不认识的权限范围：{'、'.join(unknown)}（可用：{'、'.join(SCOPES)}）")
    if not scopes:
        raise KeyRefused("请至少选择一个权限范围。")
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise KeyRefused("请填写密钥名称（60 字以内），如“市级群众服务平台”。")
    if user.role == "resident" or not user.active:
        raise KeyRefused("密钥须绑定一个在用的工作人员账号（决定它能看到和办理哪些订单）。")
    problem = binding_problem(user)
    if problem:
        raise KeyRefused(problem)
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), scopes=scopes, user_id=user.id,
                 created_by=created_by[:60])
    db.session.add(row)
    db.session.commit()
    return row, key


def find(reference: str) -> ApiKey | None:
    """A key by its id or its prefix (what lists show)."""
    reference = reference.strip().lstrip("#")
    prefix = reference.removeprefix(KEY_PREFIX).split("_", 1)[0]
    row = db.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None and reference.isdigit():  # a prefix can be all digits too: it is tried first
        row = db.session.get(ApiKey, int(reference))
    return row


def revoke(row: ApiKey) -> None:
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()


def _presented() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # Open311 clients send the key as a parameter.
    if request.blueprint == "open311":
        return (request.form.get("api_key") or request.args.get("api_key") or "").strip() or None
    return None


def _count(key_id: int, window: int) -> int:
    dialect = db.session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    statement = (insert(ApiRateWindow).values(api_key_id=key_id, window=window, count=1)
                 .on_conflict_do_update(index_elements=["api_key_id", "window"],
                                        set_={"count": ApiRateWindow.count + 1})
                 .returning(ApiRateWindow.count))
    return db.session.execute(statement).scalar_one()


def _limit(row: ApiKey) -> None:
    limit = current_app.config["API_RATE_LIMIT"]
    if not limit:
        return
    size = max(int(current_app.config["API_RATE_WINDOW_SECONDS"]), 1)
    now = int(time.time())
    window = now - now % size
    used = _count(row.id, window)
    if used == 1:
        row.last_used_at = utcnow()  # one write per window, not per request
    db.session.commit()  # the count holds even if the request then fails
    if used > limit:
        g.retry_after = window + size - now  # sent as Retry-After by the API blueprints
        raise ApiError(429, f"请求过于频繁：每个密钥每 {size} 秒最多 {limit} 次，请 {window + size - now} 秒后再试。",
                       retryAfter=window + size - now)


def authenticate(scope: str | None) -> ApiKey:
    """The key of this request, checked (exists, not revoked, its account usable, has ``scope``) and
    counted against its rate limit; an ApiError (401, 403, 429) otherwise."""
    presented = _presented()
    if not presented:
        raise ApiError(401, "请在请求头 Authorization: Bearer <密钥> 中提供 API 密钥。")
    row = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(presented)))
    if row is None:
        raise ApiError(401, "API 密钥无效。")
    if row.revoked_at is not None:
        raise ApiError(401, "API 密钥已被吊销。")
    user = row.user
    if not user.active or binding_problem(user):
        raise ApiError(403, "API 密钥绑定的账号已停用或未绑定单位，请联系系统管理员。")
    _limit(row)
    if scope is not None and scope not in (row.scopes or []):
        raise ApiError(403, f"该 API 密钥没有“{scope}”权限（{SCOPES.get(scope, scope)}）。", scope=scope)
    g.api_key = row
    return row


def api_actor(row: ApiKey) -> Actor:
    """The key's account as the actor of a transition; the label says it came through the API."""
    actor = staff_actor(row.user)
    return replace(actor, label=f"{row.user.display_name}（接口：{row.name}）"[:60])


def prune_rate_windows(older_than_seconds: int = 86400) -> int:
    """Drop finished windows (``qunti tick``); returns how many."""
    cutoff = int(time.time()) - older_than_seconds
    count = db.session.execute(delete(ApiRateWindow).where(ApiRateWindow.window < cutoff)).rowcount
    db.session.commit()
    return count
