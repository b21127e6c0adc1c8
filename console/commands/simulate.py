"""`admissions simulate`: made-up families for rehearsals and the loopback services."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from console.commands.options import (
    COUNTY_NAMES,
    county_option,
    pass_app,
    simulation_rate_options,
)
from console.context import AppContext
from simulator.server import serve_command


@click.group("simulate")
def simulate_group() -> None:
    """演练模拟：生成模拟家庭和政务数据，在本机运行模拟服务。"""


@simulate_group.command("families")
@county_option()
@click.option(
    "--count",
    type=click.IntRange(min=1),
    required=True,
    help="生成的儿童人数（双胞胎算两人）。",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="随机数种子；种子和参数相同，结果相同。",
)
@click.option(
    "--year",
    type=int,
    default=None,
    help="招生年度，例如 2025；默认取数据库中最新的年度。",
)
@click.option(
    "--stage",
    type=click.Choice(["primary", "junior"]),
    default="primary",
    show_default=True,
    help="学段：primary 小学一年级，junior 初中七年级。",
)
@click.option(
    "--registry",
    "registry_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="政务数据 JSON 文件的路径，供 simulate serve 使用；"
    "默认 simulator-registry-区县代码-种子.json。",
)
@click.option(
    "--rows-out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="另把申请写成 CSV 文件（英文字段名，UTF-8）。",
)
@simulation_rate_options
@click.option("--no-import", is_flag=True, help="只写文件，不把申请存入数据库。")
@pass_app
def families_command(
    app: AppContext,
    county: str,
    count: int,
    seed: int,
    year: int | None,
    stage: str,
    registry_path: Path | None,
    rows_out: Path | None,
    mismatch_rate: float,
    mistake_rate: float,
    no_import: bool,
) -> None:
    """生成模拟家庭的申请和对应的政务数据，并把申请存入该区县的报名窗口。

    需要先运行 admissions init 和 admissions season open。

    示例：admissions simulate families --county 白银区 --count 2000 --seed 7 --year 2025
    """
    from simulator.families import generate_families, write_registry, write_rows_csv

    if year is None:
        from sqlmodel import Session

        from console.services.seasons import get_season

        with Session(app.engine) as session:
            year = get_season(session).year
    simulation = generate_families(
        county_code=county,
        count=count,
        seed=seed,
        year=year,
        stage=stage,
        mismatch_rate=mismatch_rate,
        mistake_rate=mistake_rate,
    )
    registry_path = registry_path or Path(f"simulator-registry-{county}-{seed}.json")
    try:
        write_registry(simulation, registry_path)
        if rows_out is not None:
            write_rows_csv(simulation, rows_out)
    except OSError as exc:
        raise click.ClickException(f"无法写入文件：{exc}。请检查路径和权限。") from exc

    categories = Counter(child.category for child in simulation.children)
    mismatched = sum(child.mismatch is not None for child in simulation.children)
    mistaken = sum(bool(child.mistakes) for child in simulation.children)
    summary = (
        f"已为{COUNTY_NAMES[county]}生成 {count} 名儿童（{simulation.family_count} 户）的申请 "
        f"{len(simulation.rows)} 份（"
        + " ".join(f"{batch}类 {categories[batch]}" for batch in "ABCDE")
        + f"；政务数据不一致 {mismatched} 人，填报错误 {mistaken} 人），"
        f"政务数据已写入 {registry_path}"
    )
    if rows_out is not None:
        summary += f"，申请已写入 {rows_out}"
    if not no_import:
        summary += "；" + _import(
            app, simulation.rows, county=county, year=year, stage=stage
        )
    click.echo(summary + "。")


def _import(
    app: AppContext, rows: list[dict[str, str]], *, county: str, year: int, stage: str
) -> str:
    from console.db import session_scope
    from console.services.intake import import_rows
    from console.services.seasons import get_window

    with session_scope(app.engine) as session:
        window = get_window(session, year=year, county_code=county, stage=stage)
    report = import_rows(
        app.engine, rows, window=window, source="simulator", actor=app.operator
    )
    return (
        f"入库 {report.stored} 份，更新 {report.updated} 份，未变 {report.unchanged} 份，"
        f"退回 {report.rejected} 份"
    )


simulate_group.add_command(serve_command)
