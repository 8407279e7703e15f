"""``qunti plugins list|enable|disable``: the same switch as the /plugins page, for operators."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from qunti.menu.models import ORGANIZATIONS

plugins_group = AppGroup("plugins", help="列出、启用、停用插件（启用状态保存在数据库里，立即生效）")


@plugins_group.command("list")
def list_command() -> None:
    """List installed plugins and whether each is enabled."""
    from qunti.plugins import current, enabled_ids

    enabled = enabled_ids()
    installed = list(current())
    if not installed:
        click.echo("没有安装插件。")
        return
    for plugin in installed:
        state = "已启用" if plugin.id in enabled else "未启用"
        click.echo(f"{plugin.id:<24} {state}  {plugin.name}（{plugin.manifest.kind_name}，"
                   f"{ORGANIZATIONS.get(plugin.organization, plugin.organization)}，v{plugin.version}，"
                   f"{len(plugin.forms)} 个表单，来自 {plugin.source}）")


def _switch(plugin_ids: tuple[str, ...], every: bool, on: bool) -> None:
    from qunti.plugins import current, set_enabled

    installed = current()
    chosen = [p.id for p in installed] if every else list(plugin_ids)
    if not chosen:
        click.echo("请给出插件编号，或用 --all。", err=True)
        sys.exit(2)
    unknown = [pid for pid in chosen if installed.get(pid) is None]
    if unknown:
        click.echo(f"没有安装这些插件：{'、'.join(unknown)}（用 qunti plugins list 查看）", err=True)
        sys.exit(1)
    for plugin_id in chosen:
        changed = set_enabled(plugin_id, on, changed_by="命令行")
        word = "启用" if on else "停用"
        click.echo(f"{plugin_id}：{'已' + word if changed else '本来就已' + word}")


@plugins_group.command("enable")
@click.argument("plugin_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="启用全部已安装的插件")
def enable_command(plugin_ids: tuple[str, ...], every: bool) -> None:
    """Enable plugins (their forms, menu entries, activities and pages appear at once)."""
    _switch(plugin_ids, every, True)


@plugins_group.command("disable")
@click.argument("plugin_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="停用全部插件")
def disable_command(plugin_ids: tuple[str, ...], every: bool) -> None:
    """Disable plugins (hidden at once; their data is kept)."""
    _switch(plugin_ids, every, False)
