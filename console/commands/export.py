"""`admissions export`: write published results to JSON, CSV or XLSX files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from console.commands.options import (
    check_output_files,
    check_output_folder,
    county_option,
    pass_app,
    season_option,
)
from console.context import AppContext
from console.errors import AdmissionsError

CHILD_COLUMNS = [
    "application_id",
    "token",
    "student_name",
    "student_id_number",
    "batch",
    "priority_key",
    "key_used",
    "lottery",
    "rank_in_batch",
    "zone_school",
    "preferred_school",
    "options",
    "school",
    "phase",
    "reason",
    "distance_km",
    "place_lock",
    "explanation",
]
SCHOOL_COLUMNS = [
    "code",
    "name",
    "seats",
    "filled",
    "fill_rate",
    "overflow",
    "adjusted_in",
    "adjusted_out",
    "admitted_A",
    "admitted_B",
    "admitted_C",
    "admitted_D",
    "admitted_E",
]


@click.group("export")
def export_group() -> None:
    """导出公开结果。"""


@export_group.command("allocation")
@click.option(
    "--run",
    "run_id",
    type=int,
    default=None,
    help="分配记录编号；默认取该区县学段最新的有效分配。",
)
@county_option(required=False)
@season_option()
@click.option(
    "--stage",
    type=click.Choice(["primary", "junior"]),
    default="primary",
    show_default=True,
    help="学段。",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv", "xlsx"]),
    default="json",
    show_default=True,
    help="文件格式。",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="输出文件；json 默认写到标准输出，csv 另写 <文件名>-schools.csv，xlsx 必须指定。",
)
@click.option("--unmask", is_flag=True, help="导出完整姓名和身份证号（写入审计日志）。")
@click.option("--force", is_flag=True, help="输出文件已存在时覆盖它。")
@pass_app
def export_allocation_command(
    app: AppContext,
    run_id: int | None,
    county: str | None,
    season_year: int | None,
    stage: str,
    fmt: str,
    output: Path | None,
    unmask: bool,
    force: bool,
) -> None:
    """导出一次分配：每个儿童的批次、排序值、片区学校、志愿、可调剂学校、结果和说明，
    以及每所学校的学位和录取人数。字段说明见 docs/allocation-export.md。

    示例：admissions export allocation --county 白银区 --format xlsx -o 分配结果.xlsx
    """
    import json

    from console.db import session_scope
    from console.services import audit
    from console.services.allocation import export_document, latest_run, state_label
    from console.services.seasons import get_season

    if run_id is None and county is None:
        raise click.UsageError(
            "请指定 --run 分配记录编号，或 --county 区县（取最新的有效分配）。"
        )
    if fmt in ("csv", "xlsx") and output is None:
        raise click.UsageError(f"{fmt} 格式需要用 --output 指定输出文件。")
    if output is not None:
        check_output_folder(output, title="导出失败")
        _check_output_file(output, fmt, database=app.engine.url.database, force=force)
    # The file is written inside the transaction, so a failed write also drops the audit
    # record of the export.
    with session_scope(app.engine) as session:
        if run_id is None:
            assert county is not None
            season = get_season(session, season_year)
            assert season.id is not None
            run_id = latest_run(
                session, season_id=season.id, county_code=county, stage=stage
            ).id
            assert run_id is not None
        document = export_document(session, run_id=run_id, unmask=unmask)
        audit.record(
            session,
            actor=app.operator,
            action="export.allocation",
            entity="allocation_run",
            entity_id=run_id,
            detail={
                "format": fmt,
                "unmask": unmask,
                "children": len(document["children"]),
            },
        )

        try:
            if fmt == "json" and output is None:
                click.echo(json.dumps(document, ensure_ascii=False, indent=2))
                return
            assert output is not None
            _write_document(fmt, output, document)
        except OSError as exc:
            raise AdmissionsError(
                f"无法写入 {exc.filename or output}（{exc.strerror or exc}）。"
                "请检查文件夹的写入权限，或换一个输出路径。",
                title="导出失败",
            ) from exc
    state = state_label(document["run"]["state"])
    click.echo(
        f"已导出第 {run_id} 次分配（{state}），"
        f"儿童 {len(document['children'])} 人：{output}"
    )


def _check_output_file(
    output: Path, fmt: str, *, database: str | None, force: bool
) -> None:
    """Reject writing over the database, and over any existing file unless `force`."""
    targets = [output]
    if fmt == "csv":
        targets.append(
            output.with_name(f"{output.stem}-schools{output.suffix or '.csv'}")
        )
    check_output_files(targets, database=database, force=force, title="导出失败")


def _write_document(fmt: str, output: Path, document: dict[str, Any]) -> None:
    """Write the export to `output`. CSV also writes <name>-schools.csv beside it."""
    import json

    if fmt == "json":
        text = json.dumps(document, ensure_ascii=False, indent=2)
        output.write_text(text + "\n", encoding="utf-8")
    elif fmt == "csv":
        schools_path = output.with_name(
            f"{output.stem}-schools{output.suffix or '.csv'}"
        )
        _write_csv(output, CHILD_COLUMNS, [_child_row(c) for c in document["children"]])
        _write_csv(
            schools_path, SCHOOL_COLUMNS, [_school_row(s) for s in document["schools"]]
        )
        click.echo(f"学校表：{schools_path}")
    else:
        _write_xlsx(output, document)


def _child_row(child: dict[str, Any]) -> list[Any]:
    row = []
    for column in CHILD_COLUMNS:
        value = child.get(column)
        if isinstance(value, list):
            value = " ".join(str(item) for item in value)
        row.append("" if value is None else value)
    return row


def _school_row(school: dict[str, Any]) -> list[Any]:
    admitted = school.get("admitted", {})
    row = [school.get(column, "") for column in SCHOOL_COLUMNS[:8]]
    return row + [admitted.get(batch, 0) for batch in "ABCDE"]


def _write_csv(path: Path, headers: list[str], rows: list[list[Any]]) -> None:
    import csv

    # UTF-8 with BOM so that spreadsheet programs on staff machines show Chinese correctly.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)


def _write_xlsx(path: Path, document: dict[str, Any]) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    children = workbook.create_sheet("children")
    children.append(CHILD_COLUMNS)
    for child in document["children"]:
        children.append(_child_row(child))
    schools = workbook.create_sheet("schools")
    schools.append(SCHOOL_COLUMNS)
    for school in document["schools"]:
        schools.append(_school_row(school))
    run = workbook.create_sheet("run")
    for key, value in document["run"].items():
        run.append([key, "" if value is None else value])
    workbook.save(path)
