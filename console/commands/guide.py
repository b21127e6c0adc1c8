"""`admissions guide`: publish a county's service guide (办事指南) from the console's data."""

from __future__ import annotations

from pathlib import Path

import click

from console.commands.options import (
    check_output_files,
    check_output_folder,
    county_option,
    pass_app,
    season_option,
)
from console.context import AppContext


@click.command("guide")
@county_option()
@season_option()
@click.option("--stage", type=click.Choice(["primary", "junior"]), default="primary",
              show_default=True, help="学段：primary 小学一年级，junior 初中七年级。")  # fmt: skip
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="写入的 Markdown 文件；默认输出到屏幕。")  # fmt: skip
@click.option("--force", is_flag=True, help="输出文件已存在时覆盖它。")
@pass_app
def guide_command(
    app: AppContext,
    county: str,
    season_year: int | None,
    stage: str,
    output: Path | None,
    force: bool,
) -> None:
    """生成区县“教育入学一件事”办事指南：申报条件、材料、入学顺序、流程、学校学位、咨询监督电话。

    日期、年龄截止日、排序规则、学校学位和电话取自本控制台的数据，与实际执行一致。

    示例：admissions guide --county 白银区 -o 白银区办事指南.md
    """
    from console.db import session_scope
    from console.services.guide import build_guide

    if output is not None:
        check_output_folder(output, title="办事指南未写入")
        check_output_files([output], database=app.engine.url.database, force=force,
                           title="办事指南未写入")  # fmt: skip
    with session_scope(app.engine) as session:
        text = build_guide(session, county_code=county, year=season_year, stage=stage)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"办事指南已写入 {output}。")
