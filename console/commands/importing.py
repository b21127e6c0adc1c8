"""`admissions import`: import applications from a CSV or XLSX file."""

from __future__ import annotations

from pathlib import Path

import click

from console.commands.options import (
    COUNTY_NAMES,
    county_option,
    echo_json,
    json_option,
    pass_app,
    season_option,
)
from console.context import AppContext
from console.intake import DEFAULT_CHUNK_SIZE


@click.command("import")
@click.argument("file", metavar="文件", type=click.Path(path_type=Path, dir_okay=False))
@county_option(required=False)
@season_option()
@click.option("--stage", type=click.Choice(["primary", "junior"]), default="primary",
              show_default=True, help="学段：primary 小学一年级，junior 初中七年级。")  # fmt: skip
@click.option("--encoding", default=None,
              help="强制 CSV 编码：utf-8、utf-8-sig、gbk、gb18030；默认自动识别。")  # fmt: skip
@click.option("--sheet", default=None, help="XLSX 工作表名称；默认第一个工作表。")
@click.option("--errors", "errors_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None,
              help="把有误的行连同“错误说明”列写入此文件（.csv 或 .xlsx），改正后可再次导入。")  # fmt: skip
@click.option("--override-window", is_flag=True,
              help="报名窗口关闭时仍然导入（以当前操作员身份记入审计日志），须同时给出 --reason。")  # fmt: skip
@click.option("--reason", "override_reason", default=None, metavar="原因",
              help="使用 --override-window 补录的原因，与文件名和导入条数一起记入审计日志。")  # fmt: skip
@click.option("--strict", is_flag=True, help="有任何一行有误时以退出码 1 结束。")
@click.option("--check", "dry_run", is_flag=True,
              help="只检查文件并报告问题，不保存任何数据。")  # fmt: skip
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=DEFAULT_CHUNK_SIZE,
              show_default=True, help="每个事务保存的行数。")  # fmt: skip
@json_option()
@pass_app
def import_command(
    app: AppContext,
    file: Path,
    county: str | None,
    season_year: int | None,
    stage: str,
    encoding: str | None,
    sheet: str | None,
    errors_path: Path | None,
    override_window: bool,
    override_reason: str | None,
    strict: bool,
    dry_run: bool,
    chunk_size: int,
    as_json: bool,
) -> None:
    """导入省平台导出的报名文件（CSV：UTF-8/带BOM/GBK/GB18030；或 XLSX）。

    \b
    表头可以是申请表的中文栏目名或英文字段名。
    好的行全部保存，有误的行逐条列出行号、栏目、值和改正方法；
    重复导入同一文件不会产生重复申请。

    示例：admissions import 报名.csv --county 白银区 --errors 错误行.csv
    """
    from tabulate import tabulate

    from console.intake.validate import mask_numbers_in
    from console.services.intake import import_file, mask_value

    reason = (override_reason or "").strip()
    if override_window and not reason:
        raise click.ClickException(
            "使用 --override-window 时必须用 --reason 说明补录原因，"
            '例如 --reason "教育局批准补录"'
        )
    if override_reason is not None and not override_window:
        raise click.ClickException(
            "--reason 只在补录时使用，请同时加 --override-window，或去掉 --reason"
        )
    outcome = import_file(
        app.engine, file, actor=app.operator, county_code=county, year=season_year,
        stage=stage, encoding=encoding, sheet=sheet, errors_path=errors_path,
        override_by=app.operator if override_window else None,
        override_reason=reason or None, chunk_size=chunk_size, dry_run=dry_run,
    )  # fmt: skip
    report = outcome.report
    if as_json:
        data = report.as_dict()
        data["error_file"] = str(outcome.error_file) if outcome.error_file else None
        echo_json(data)
    else:
        if outcome.table.mapping.unknown:
            # A header row may hold pasted data, so numbers in it are masked.
            unknown = mask_numbers_in("、".join(outcome.table.mapping.unknown))
            click.echo(f"提示：以下列无法识别，已忽略：{unknown}", err=True)
        source = outcome.table.encoding or "XLSX"
        verb = "检查（未保存）" if dry_run else "导入"
        county = COUNTY_NAMES.get(
            outcome.window.county_code, outcome.window.county_code
        )
        click.echo(
            f"{file.name}（{source}）{verb}{county}报名窗口："
            f"新增 {report.stored} 条，更新 {report.updated} 条，未变 {report.unchanged} 条，"
            f"有误 {report.rejected} 行，空行 {report.blank} 行。"
        )
        if report.errors:
            table = [
                [e.row, e.label, mask_value(e.field, e.value), e.message, e.fix]
                for e in report.errors
            ]
            headers = ["行号", "栏目", "值", "问题", "改正方法"]
            click.echo(tabulate(table, headers=headers, tablefmt="simple"))
        if outcome.error_file and not outcome.error_rows_written:
            click.echo(f"没有有误的行，{outcome.error_file} 中上次的错误行已清空。")
        elif outcome.error_file:
            click.echo(
                f"有误的 {outcome.error_rows_written} 行已写入 {outcome.error_file}，"
                "改正后可直接再次导入。"
            )
    if strict and report.rejected:
        raise click.ClickException(f"有 {report.rejected} 行未导入（--strict）。")
