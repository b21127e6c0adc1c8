"""`admissions season`: open and close application windows."""

from __future__ import annotations

from datetime import datetime

import click

from console.commands.options import (
    COUNTY_NAMES,
    ISO_DATE,
    SEASON_YEARS,
    county_option,
    pass_app,
)
from console.context import AppContext


@click.group("season")
def season_group() -> None:
    """招生年度与报名窗口。"""


@season_group.command("open")
@click.option("--year", type=SEASON_YEARS, required=True, help="招生年度，例如 2025。")
@county_option()
@click.option(
    "--stage",
    type=click.Choice(["primary", "junior"]),
    default="primary",
    show_default=True,
    help="学段：primary 小学一年级，junior 初中七年级。",
)
@click.option(
    "--opens",
    type=ISO_DATE,
    default=None,
    help="开始日期 YYYY-MM-DD。",
)
@click.option(
    "--closes",
    type=ISO_DATE,
    default=None,
    help="截止日期 YYYY-MM-DD。",
)
@pass_app
def open_command(
    app: AppContext,
    year: int,
    county: str,
    stage: str,
    opens: datetime | None,
    closes: datetime | None,
) -> None:
    """打开一个区县一个学段的报名窗口（没有年度时自动创建）。

    示例：admissions season open --year 2025 --county 白银区
    """
    from console.db import session_scope
    from console.services.seasons import open_window

    with session_scope(app.engine) as session:
        window = open_window(
            session,
            year=year,
            county_code=county,
            stage=stage,
            actor=app.operator,
            opens_on=opens.date() if opens else None,
            closes_on=closes.date() if closes else None,
        )
        click.echo(
            f"{year} 年度{COUNTY_NAMES[county]}报名窗口已打开：{window.opens_on} 至 {window.closes_on}，"
            f"年龄截止日 {window.age_cutoff}。"
        )


@season_group.command("close")
@click.option("--year", type=SEASON_YEARS, required=True, help="招生年度。")
@county_option()
@click.option(
    "--stage",
    type=click.Choice(["primary", "junior"]),
    default="primary",
    show_default=True,
    help="学段。",
)
@pass_app
def close_command(app: AppContext, year: int, county: str, stage: str) -> None:
    """关闭报名窗口。示例：admissions season close --year 2025 --county 白银区"""
    from console.db import session_scope
    from console.services.seasons import close_window

    with session_scope(app.engine) as session:
        close_window(
            session, year=year, county_code=county, stage=stage, actor=app.operator
        )
    click.echo(f"{year} 年度{COUNTY_NAMES[county]}报名窗口已关闭。")
