"""`admissions notify`: send result SMS to guardians."""

from __future__ import annotations

import click

from console.commands.options import county_option, pass_app, season_option
from console.context import AppContext


@click.command("notify")
@county_option()
@season_option()
@click.option(
    "--sms",
    "base_url",
    envvar="ADMISSIONS_SMS_URL",
    required=True,
    help="短信网关地址，例如 http://127.0.0.1:8701（环境变量 ADMISSIONS_SMS_URL）。",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=16,
    show_default=True,
    help="同时发送的短信数。",
)
@pass_app
def notify_command(
    app: AppContext,
    county: str,
    season_year: int | None,
    base_url: str,
    concurrency: int,
) -> None:
    """向监护人发送结果短信；每个结果只发一次，失败的下次重试，并记录送达回执。

    示例：admissions notify --county 白银区 --sms http://127.0.0.1:8701
    """
    from sqlmodel import Session

    from console.services.notify import prepare_notices, send_notices
    from console.services.seasons import get_season

    with Session(app.engine) as session:
        season = get_season(session, season_year)
    assert season.id is not None
    prepared = prepare_notices(app.engine, season_id=season.id, county_code=county)
    report = send_notices(
        app.engine,
        season_id=season.id,
        county_code=county,
        base_url=base_url,
        concurrency=concurrency,
    )
    states = "，".join(
        f"{label} {report.states.get(state, 0)}"
        for state, label in [
            ("delivered", "已送达"),
            ("sent", "已发送"),
            ("failed", "失败"),
            ("pending", "待发"),
        ]
    )
    click.echo(f"新建通知 {prepared.created} 条；{states}。")
    if prepared.awaiting_approval:
        click.echo(
            f"另有 {prepared.awaiting_approval} 份录取结果所属的分配尚未审定，暂不发送；"
            "审定后（admissions allocate approve）再运行本命令。"
        )
    if report.errors:
        raise click.ClickException(
            f"{len(report.errors)} 条短信发送失败，首条：{report.errors[0]}。请稍后重新运行。"
        )
