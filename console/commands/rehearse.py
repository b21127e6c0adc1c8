"""`admissions rehearse`: a whole season on simulated families."""

from __future__ import annotations

from pathlib import Path

import click

from console.commands.options import (
    SEASON_YEARS,
    county_option,
    pass_app,
    simulation_rate_options,
)
from console.context import AppContext


@click.command("rehearse")
@click.option(
    "--families",
    type=click.IntRange(1, 2_000_000),
    default=2000,
    show_default=True,
    help="模拟家庭的适龄儿童数，每人一份申请（双胞胎计为两人）。",
)
@county_option()
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="随机种子，相同种子得到相同的家庭。",
)
@click.option(
    "--year", type=SEASON_YEARS, default=2025, show_default=True, help="招生年度。"
)
@click.option(
    "--stage",
    type=click.Choice(["primary", "junior"]),
    default="primary",
    show_default=True,
    help="学段：primary 小学一年级，junior 初中七年级。",
)
@simulation_rate_options
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("rehearsal"),
    show_default=True,
    help="演练数据库和模拟政务数据的存放目录。",
)
@click.option("--reset", is_flag=True, help="数据库已有申请时清空后再演练。")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出统计结果。")
@pass_app
def rehearse_command(
    app: AppContext,
    families: int,
    county: str,
    seed: int,
    year: int,
    stage: str,
    mismatch_rate: float,
    mistake_rate: float,
    workdir: Path,
    reset: bool,
    as_json: bool,
) -> None:
    """在全新数据库上用模拟家庭演练整个招生季：建库、报名、查询、分批、录取调剂、短信、统计。

    不指定 --db 时，数据库为 WORKDIR/rehearsal-区县-种子.db，已存在则重建。

    示例：admissions rehearse --families 2000 --county 白银区 --seed 7
    """
    from console.commands.options import echo_json
    from console.services.rehearsal import StepTiming, run_rehearsal
    from console.services.stats import render_tables

    if app.db_url is None:
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / f"rehearsal-{county}-{seed}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        app.db_url = f"sqlite:///{path}"
        reset = True
    app.allow_create = True

    def on_step(index: int, total: int, name: str) -> None:
        click.echo(f"[{index}/{total}] {name} …", err=True)

    def on_done(timing: StepTiming) -> None:
        click.echo(f"      {timing.summary}（{timing.seconds:.1f} 秒）", err=True)

    result = run_rehearsal(
        app.engine,
        county_code=county,
        families=families,
        seed=seed,
        year=year,
        stage=stage,
        workdir=workdir,
        actor=app.operator,
        mismatch_rate=mismatch_rate,
        mistake_rate=mistake_rate,
        reset=reset,
        on_step=on_step,
        on_done=on_done,
    )
    if as_json:
        echo_json(
            {
                "database": app.resolved_url,
                "seconds": round(result.seconds, 2),
                "steps": [
                    {
                        "name": s.name,
                        "seconds": round(s.seconds, 3),
                        "summary": s.summary,
                    }
                    for s in result.steps
                ],
                "stats": result.stats.to_dict(),
            }
        )
        return
    click.echo(render_tables(result.stats))
    click.echo(
        f"\n演练完成，共用时 {result.seconds:.1f} 秒。数据库：{app.resolved_url}"
    )
    click.echo(f"查看总览：admissions --db {app.resolved_url}")
    waiting = result.stats.reviews.get("exception", {}).get("waiting", 0)
    if waiting:
        click.echo(
            f"异常待审 {waiting} 份，可练习人工审核：admissions --db {app.resolved_url} "
            f"review next --county {county}"
        )
