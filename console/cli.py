"""The `admissions` command: a Click group whose bare invocation opens the TUI."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from console.context import AppContext
from console.errors import AdmissionsError

# (module under console.commands, attribute) for every sub-command; imported at start-up
# so that `admissions --help` lists them all, while heavy imports stay inside each command.
COMMANDS = [
    ("init", "init_command"),
    ("season", "season_group"),
    ("simulate", "simulate_group"),
    ("importing", "import_command"),
    ("pull", "pull_command"),
    ("applicants", "applicants_group"),
    ("lookup", "lookup_command"),
    ("classify", "classify_command"),
    ("allocate", "allocate_group"),
    ("notify", "notify_command"),
    ("stats", "stats_command"),
    ("export", "export_group"),
    ("rehearse", "rehearse_command"),
]


class AdmissionsGroup(click.Group):
    """Turns AdmissionsError into a one-line message and exit code 1."""

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except AdmissionsError as exc:
            raise click.ClickException(f"{exc.title}：{exc.message}") from exc


@click.group(cls=AdmissionsGroup, invoke_without_command=True)
@click.option(
    "--db",
    "db_url",
    envvar="ADMISSIONS_DB",
    default=None,
    help="数据库：SQLAlchemy URL 或 SQLite 文件路径；默认 ./admissions.db（环境变量 ADMISSIONS_DB）。",
)
@click.option(
    "--operator",
    envvar="ADMISSIONS_OPERATOR",
    default=None,
    help="操作员账号，写入审计日志；默认取系统用户名（环境变量 ADMISSIONS_OPERATOR）。",
)
@click.option("-v", "--verbose", is_flag=True, help="在标准错误输出运行日志。")
@click.version_option(package_name="admissions-console")
@click.pass_context
def cli(
    ctx: click.Context, db_url: str | None, operator: str | None, verbose: bool
) -> None:
    """义务教育招生业务控制台。不带子命令时打开招生总览界面。"""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    app = AppContext(db_url=db_url)
    if operator:
        app.operator = operator
    ctx.obj = app
    if ctx.invoked_subcommand is None:
        from console.screens.app import run_dashboard

        run_dashboard(app)


for module_name, attribute in COMMANDS:
    try:
        module = importlib.import_module(f"console.commands.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"console.commands.{module_name}":
            raise
        continue  # NOTE: a command whose module is not written yet is left out of the group.
    cli.add_command(getattr(module, attribute))


def main() -> None:
    cli(prog_name="admissions")
