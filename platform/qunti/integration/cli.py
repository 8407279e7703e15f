"""``qunti apikeys issue|revoke|list``: API keys from the command line (the key is printed once)."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from qunti.db import db


@click.group("apikeys", help="API 密钥：签发、吊销、列出（互联互通接口用）。")
def apikeys_group() -> None:
    pass


@apikeys_group.command("issue")
@click.option("--user", "username", required=True, help="密钥代表的工作人员账号（用户名）。")
@click.option("--name", required=True, help="密钥名称，如“市级群众服务平台”。")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="权限范围，可多次给出：orders:read、orders:create、orders:update。")
@with_appcontext
def issue_command(username: str, name: str, scopes: tuple[str, ...]) -> None:
    """Issue a key acting as USER; prints the key once (only its hash is kept)."""
    from qunti.accounts.models import User
    from qunti.integration.keys import KeyRefused, issue

    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        click.echo(f"没有用户名为“{username}”的账号。", err=True)
        sys.exit(1)
    scope_list = [part.strip() for value in scopes for part in value.split(",") if part.strip()]
    try:
        row, key = issue(user, name, scope_list, created_by="命令行")
    except KeyRefused as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"已签发 #{row.id}（前缀 {row.prefix}，{', '.join(row.scopes)}），请立即保存，之后无法再查看：")
    click.echo(key)


@apikeys_group.command("revoke")
@click.argument("reference")
@with_appcontext
def revoke_command(reference: str) -> None:
    """Revoke the key REFERENCE (its id or prefix)."""
    from qunti.integration.keys import find, revoke

    row = find(reference)
    if row is None:
        click.echo(f"没有找到密钥“{reference}”。", err=True)
        sys.exit(1)
    revoke(row)
    click.echo(f"已吊销 #{row.id}（{row.name}，前缀 {row.prefix}）。")


@apikeys_group.command("list")
@with_appcontext
def list_command() -> None:
    """List keys: id, prefix, name, account, scopes, state."""
    from qunti.integration.models import ApiKey

    rows = db.session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    if not rows:
        click.echo("还没有签发密钥。")
    for row in rows:
        state = f"已吊销 {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "有效"
        click.echo(f"#{row.id}\t{row.prefix}\t{row.name}\t{row.user.username}\t{','.join(row.scopes)}\t{state}")
