"""`admissions lookup`: query the government data-sharing interfaces."""

from __future__ import annotations

import click

from console.commands.options import (
    SERVICE_URL,
    county_option,
    pass_app,
    progress_printer,
    season_option,
)
from console.context import AppContext

SERVICES_HELP = (
    "政务数据共享服务地址，例如 http://127.0.0.1:8701（环境变量 ADMISSIONS_GOV_URL）。"
)


@click.command("lookup")
@county_option()
@season_option()
@click.option(
    "--stage",
    type=click.Choice(["primary", "junior"]),
    default=None,
    help="只查询该学段。",
)
@click.option(
    "--services",
    "base_url",
    type=SERVICE_URL,
    envvar="ADMISSIONS_GOV_URL",
    required=True,
    help=SERVICES_HELP,
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    help="同时进行的查询数。",
)
@pass_app
def lookup_command(
    app: AppContext,
    county: str,
    season_year: int | None,
    stage: str | None,
    base_url: str,
    concurrency: int,
) -> None:
    """为已授权的申请调取户籍、居住证、不动产和社保信息，可中断后续查。

    示例：admissions lookup --county 白银区 --services http://127.0.0.1:8701
    """
    from sqlmodel import Session

    from console.services.lookup import run_lookups
    from console.services.seasons import get_season

    with Session(app.engine) as session:
        season = get_season(session, season_year)
    assert season.id is not None
    report = run_lookups(
        app.engine,
        season_id=season.id,
        county_code=county,
        base_url=base_url,
        actor=app.operator,
        stage=stage,
        concurrency=concurrency,
        progress=progress_printer("已查询申请"),
    )
    click.echo(
        f"查询完成：申请 {report.applications} 份，调用接口 {report.total_calls} 次，"
        f"数据齐全 {report.completed} 份，未完成 {report.incomplete} 份，用时 {report.seconds:.1f} 秒。"
    )
    if report.held_elsewhere:
        click.echo(
            f"另有 {report.held_elsewhere} 份申请正由另一个查询进程处理，本次跳过；"
            "若该进程已中断，5 分钟后重新运行本命令即可接手。"
        )
    if report.incomplete:
        raise click.ClickException(
            f"{report.incomplete} 份申请的查询未完成（服务超时或不可用），请稍后重新运行本命令续查。"
        )
