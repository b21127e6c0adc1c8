"""`admissions stats`: season figures as tables or JSON."""

from __future__ import annotations

import click

from console.commands.options import (
    county_option,
    echo_json,
    json_option,
    pass_app,
    season_option,
)
from console.context import AppContext


@click.command("stats")
@county_option(required=False)
@season_option()
@click.option(
    "--stage",
    type=click.Choice(["primary", "junior"]),
    default=None,
    help="学段：primary 小学一年级，junior 初中七年级；默认全部学段。",
)
@click.option(
    "--school",
    "school_code",
    default=None,
    help="学校代码，例如 620402P01：只统计该校片区内、第一志愿或已录取到该校的申请。",
)
@json_option()
@pass_app
def stats_command(
    app: AppContext,
    county: str | None,
    season_year: int | None,
    stage: str | None,
    school_code: str | None,
    as_json: bool,
) -> None:
    """招生统计：申请状态与批次、学校学位与录取、数据查询和短信通知。

    不指定区县时统计全部区县（市、省级查看）；指定 --school 时只统计一所学校。

    示例：admissions stats --county 白银区 --stage primary --json
    """
    from console.db import session_scope
    from console.services.stats import render_tables, season_stats

    with session_scope(app.engine) as session:
        stats = season_stats(
            session,
            year=season_year,
            county_code=county,
            stage=stage,
            school_code=school_code,
        )
    if as_json:
        echo_json(stats.to_dict())
    else:
        click.echo(render_tables(stats), nl=False)
