"""`admissions classify`: batches A-E and the exception queue."""

from __future__ import annotations

import click

from console.commands.options import county_option, pass_app, season_option
from console.context import AppContext


@click.command("classify")
@county_option()
@season_option()
@click.option(
    "--stage",
    type=click.Choice(["primary", "junior"]),
    default=None,
    help="只处理该学段。",
)
@pass_app
def classify_command(
    app: AppContext, county: str, season_year: int | None, stage: str | None
) -> None:
    """按政务数据核验申请并分入 A–E 批次，不一致的进入异常队列。

    示例：admissions classify --county 白银区
    """
    from sqlmodel import Session

    from console.services.classify import classify_applications
    from console.services.seasons import get_season

    with Session(app.engine) as session:
        season = get_season(session, season_year)
    assert season.id is not None
    report = classify_applications(
        app.engine,
        season_id=season.id,
        county_code=county,
        actor=app.operator,
        stage=stage,
    )
    batches = "，".join(f"{b} 类 {report.batches[b]}" for b in "ABCDE")
    click.echo(
        f"分批完成：{batches}；异常 {report.exceptions} 份；未匹配片区 {report.no_zone} 份。"
    )
