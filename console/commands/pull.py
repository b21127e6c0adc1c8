"""`admissions pull`: read the platform's application feed from the stored cursor."""

from __future__ import annotations

import click

from console.commands.options import echo_json, json_option, pass_app, season_option
from console.context import AppContext


@click.command("pull")
@click.option("--feed", "feed_url", required=True, envvar="ADMISSIONS_FEED_URL",
              help="省平台报名数据推送地址，例如 http://127.0.0.1:8701（环境变量 ADMISSIONS_FEED_URL）。")  # fmt: skip
@season_option()
@click.option("--stage", type=click.Choice(["primary", "junior"]), default="primary",
              show_default=True, help="学段：primary 小学一年级，junior 初中七年级。")  # fmt: skip
@click.option("--page-size", type=click.IntRange(1, 1000), default=500, show_default=True,
              help="每次请求读取的申请条数。")  # fmt: skip
@click.option("--max-pages", type=click.IntRange(1), default=None,
              help="最多读取的页数；默认读到没有新数据为止。")  # fmt: skip
@click.option("--restart", is_flag=True,
              help="忽略已保存的游标，从头读取（已保存的申请不会重复保存）。")  # fmt: skip
@json_option()
@pass_app
def pull_command(
    app: AppContext,
    feed_url: str,
    season_year: int | None,
    stage: str,
    page_size: int,
    max_pages: int | None,
    restart: bool,
    as_json: bool,
) -> None:
    """从省平台报名数据推送接口增量拉取申请，从上次中断处继续，不会重复保存。

    示例：admissions pull --feed http://127.0.0.1:8701
    """
    from tabulate import tabulate

    from console.services.feed import pull_feed
    from console.services.intake import mask_value

    report = pull_feed(
        app.engine, url=feed_url, actor=app.operator, year=season_year, stage=stage,
        page_size=page_size, max_pages=max_pages, restart=restart,
    )  # fmt: skip
    if as_json:
        echo_json({
            "feed": report.feed_url, "pages": report.pages, "items": report.items,
            "stored": report.stored, "updated": report.updated,
            "unchanged": report.unchanged, "rejected": report.rejected,
            "retries": report.retries, "cursor": report.cursor,
            "errors": [
                {"submission_id": submission, "field": e.field, "label": e.label,
                 "value": mask_value(e.field, e.value), "message": e.message,
                 "fix": e.fix}
                for submission, e in report.errors
            ],
        })  # fmt: skip
        return
    click.echo(
        f"已读取 {report.pages} 页 {report.items} 条：新增 {report.stored} 条，"
        f"更新 {report.updated} 条，已有 {report.unchanged} 条，有误 {report.rejected} 条；"
        f"重试 {report.retries} 次。"
    )
    if report.errors:
        rows = [
            [submission, e.label, mask_value(e.field, e.value), e.message, e.fix]
            for submission, e in report.errors
        ]
        headers = ["申报编号", "栏目", "值", "问题", "改正方法"]
        click.echo(tabulate(rows, headers=headers, tablefmt="simple"))
