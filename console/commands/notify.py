"""`admissions notify`: send result SMS to guardians."""

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


@click.command("notify")
@county_option()
@season_option()
@click.option(
    "--sms",
    "base_url",
    type=SERVICE_URL,
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
@click.option(
    "--retry-failed",
    is_flag=True,
    help="把已达重试上限（3 次）的失败短信也重新发送，用于核对号码或网关恢复之后。",
)
@pass_app
def notify_command(
    app: AppContext,
    county: str,
    season_year: int | None,
    base_url: str,
    concurrency: int,
    retry_failed: bool,
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
        retry_failed=retry_failed,
        progress=progress_printer("已处理短信"),
    )
    states = "，".join(
        f"{label} {report.states.get(state, 0)}"
        for state, label in [
            ("delivered", "已送达"),
            ("sent", "已发送"),
            ("failed", "失败"),
            ("pending", "待发"),
            ("sending", "发送中"),
        ]
    )
    click.echo(
        f"新建通知 {prepared.created} 条，本次发出 {report.sent_now} 条；{states}。"
    )
    if report.held_elsewhere:
        click.echo(
            f"{report.held_elsewhere} 条通知正由另一个发送进程处理；"
            "若该进程已中断，5 分钟后重新运行本命令即可接手。"
        )
    if prepared.unallocated:
        click.echo(
            f"另有 {prepared.unallocated} 份已分批的申请尚未分配学位，暂无录取结果可发；"
            "请先运行 admissions allocate。"
        )
    if prepared.awaiting_approval:
        click.echo(
            f"另有 {prepared.awaiting_approval} 份录取结果所属的分配尚未审定，暂不发送；"
            "审定后（admissions allocate approve）再运行本命令。"
        )
    if report.errors:
        stopped = "整批失败，本次已停止发送其余通知；" if report.stopped else ""
        raise click.ClickException(
            f"{len(report.errors)} 条短信发送失败（首条：{report.errors[0]}）；{stopped}"
            "请确认短信网关可用后重新运行本命令。"
        )
    if report.exhausted:
        raise click.ClickException(
            f"{report.exhausted} 条短信已重试 3 次仍失败，不再自动重发。请核对手机号码或联系短信服务商，"
            "然后运行 admissions notify --retry-failed。"
        )
