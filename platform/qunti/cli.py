"""The ``qunti`` command: run, check, sync, db (migrations), demo."""
from __future__ import annotations

import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, routes_command, shell_command

from qunti.definitions import DefinitionError
from qunti.definitions_io import definitions_group
from qunti.integration.cli import apikeys_group
from qunti.plugins.cli import plugins_group


def _create_app():
    from qunti import create_app
    try:
        return create_app()
    except DefinitionError as exc:
        # A broken definition file is an operator's mistake, not a crash: say where and stop.
        click.echo(f"定义文件有误：{exc}", err=True)
        sys.exit(2)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             help="Qunti 群团服务平台")
def main() -> None:
    pass


main.add_command(routes_command)
main.add_command(shell_command)
main.add_command(plugins_group)
main.add_command(apikeys_group)
main.add_command(definitions_group)


def upgrade_database() -> None:
    from flask_migrate import upgrade
    upgrade()


def prepare() -> int:
    """Upgrade the schema and record changed definition files; returns new form versions."""
    from qunti.catalog import state
    from qunti.sync import sync
    upgrade_database()
    return sync(state().catalog)


@main.command("check", with_appcontext=False)
def check_command() -> None:
    """Validate every form, the service menu and every rule set; exit 1 on the first problem."""
    from qunti import catalog, settings
    config = settings.resolve(os.environ.get("QUNTI_INSTANCE_PATH", str(settings.SOURCE_ROOT / "instance")))
    try:
        loaded = catalog.load(config)
    except DefinitionError as exc:
        click.echo(f"错误：{exc}", err=True)
        sys.exit(1)
    click.echo(f"全部通过：{len(loaded.forms)} 个表单，{len(loaded.menu)} 个服务事项，"
               f"{len(loaded.rulesets)} 套规则，{len(loaded.units)} 个办单单位。")


@main.command("sync")
def sync_command() -> None:
    """Upgrade the database and apply changed definition files."""
    created = prepare()
    click.echo(f"已同步：新增 {created} 个表单版本。")


@main.command("tick")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Run as if today were this date (YYYY-MM-DD).")
def tick_command(today) -> None:
    """Mark overdue orders, record due-soon and overdue reminders, deliver due webhooks and bring the
    statistics summary up to date (idempotent; cron-safe on several hosts at once)."""
    from qunti.integration.keys import prune_rate_windows
    from qunti.integration.webhooks import deliver_due
    from qunti.orders.tick import run
    from qunti.stats.rollup import refresh
    click.echo(str(run(today.date() if today else None)))
    click.echo(str(deliver_due()))
    prune_rate_windows()
    click.echo(f"统计汇总重算 {refresh()} 天。")


@main.command("demo")
def demo_command() -> None:
    """Load the demo content (idempotent)."""
    from qunti.demo import load_demo
    prepare()
    click.echo(load_demo())


@main.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug/--no-debug", default=False)
def run_command(host: str, port: int, debug: bool) -> None:
    """Upgrade the database, load definitions (and the demo content when enabled) and serve."""
    prepare()
    if current_app.config["LOAD_DEMO"]:
        from qunti.demo import load_demo
        click.echo(load_demo())
    click.echo(f"Qunti 正在 http://{host}:{port}/ 提供服务（Ctrl+C 停止）")
    # Werkzeug's server directly: Flask's app.run() refuses to start from inside its own CLI.
    from werkzeug.serving import run_simple
    app = current_app._get_current_object()
    app.debug = debug
    run_simple(host, port, app, use_reloader=False, use_debugger=debug, threaded=True)


if __name__ == "__main__":
    main()
