"""`admissions allocate`: zone admission and adjustment, approval, explanation, diff, verify."""

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

STAGE_CHOICE = click.Choice(["primary", "junior"])


@click.group("allocate", invoke_without_command=True)
@county_option(required=False)
@season_option()
@click.option(
    "--stage",
    type=STAGE_CHOICE,
    default="primary",
    show_default=True,
    help="学段：primary 小学一年级，junior 初中七年级。",
)
@click.option("--dry-run", is_flag=True, help="只计算并显示结果，不保存。")
@click.option("--commit", is_flag=True, help="计算并保存本次分配，更新申请状态。")
@click.option(
    "--seed-source",
    default=None,
    help="摇号种子的公开来源值（例如事先公布的公证摇号数字）；默认取“年度-区县-学段”。",
)
@json_option()
@pass_app
@click.pass_context
def allocate_group(
    ctx: click.Context,
    app: AppContext,
    county: str | None,
    season_year: int | None,
    stage: str,
    dry_run: bool,
    commit: bool,
    seed_source: str | None,
    as_json: bool,
) -> None:
    """按批次片区录取，再调剂到有空余学位的学校。

    示例：admissions allocate --county 白银区 --season 2025 --dry-run

    --dry-run 只显示每所学校的学位、各批次录取、溢出和调剂人数；--commit 保存结果。

    \b
    子命令：approve 审定锁定，reopen 重新开放，explain 查看单个儿童的录取说明，
    diff 比较两次分配，verify 复核摇号与分配结果。
    """
    if ctx.invoked_subcommand is not None:
        return
    if dry_run and commit:
        raise click.UsageError(
            "--dry-run 与 --commit 不能同时使用：只看结果用 --dry-run，保存用 --commit。"
        )
    if county is None or not (dry_run or commit):
        raise click.UsageError(
            "请指定 --county 区县，并选择 --dry-run（只看结果）或 --commit（保存）。"
        )

    from tabulate import tabulate

    from console.db import session_scope
    from console.services.allocation import run_allocation
    from console.services.seasons import get_season

    with session_scope(app.engine) as session:
        season = get_season(session, season_year)
        assert season.id is not None
        report = run_allocation(
            session,
            season_id=season.id,
            county_code=county,
            stage=stage,
            actor=app.operator,
            commit=commit,
            seed_source=seed_source,
        )
    if as_json:
        echo_json(report.to_dict())
        return
    headers, rows = report.table()
    click.echo(tabulate(rows, headers=headers, tablefmt="simple"))
    click.echo(report.summary_line() + "。")
    if report.duplicates:
        pairs = "、".join(
            f"{dup}（保留 {kept}）" for dup, kept in report.duplicates.items()
        )
        click.echo(f"同一儿童的重复申请未参加分配：{pairs}。请核实后撤回重复申请。")
    click.echo(
        f"摇号种子来源：{report.seed_source}；名单哈希：{report.input_hash}；种子：{report.seed}"
    )
    if report.committed:
        click.echo(
            f"已保存为第 {report.run_id} 次分配。审定：admissions allocate approve {report.run_id}"
        )
    else:
        click.echo("试运行，未保存。保存请使用 --commit。")


@allocate_group.command("approve")
@click.argument("run_id", metavar="分配记录编号", type=int)
@pass_app
def approve_command(app: AppContext, run_id: int) -> None:
    """审定并锁定一次分配，记录审定人。示例：admissions allocate approve 3"""
    from console.db import session_scope
    from console.services.allocation import approve_run
    from console.services.applicants import local_time

    with session_scope(app.engine) as session:
        run = approve_run(session, run_id=run_id, actor=app.operator)
    click.echo(
        f"第 {run.id} 次分配已由 {run.approved_by} 于 {local_time(run.approved_at)} "
        "审定锁定。"
    )


@allocate_group.command("reopen")
@click.argument("run_id", metavar="分配记录编号", type=int)
@click.option("--reason", required=True, help="重新开放的原因，写入审计日志。")
@pass_app
def reopen_command(app: AppContext, run_id: int, reason: str) -> None:
    """重新开放已审定的分配，之后可以重新分配。

    示例：admissions allocate reopen 3 --reason "申诉核实后更正户籍日期"
    """
    from console.db import session_scope
    from console.services.allocation import reopen_run

    with session_scope(app.engine) as session:
        run = reopen_run(session, run_id=run_id, actor=app.operator, reason=reason)
    click.echo(f"第 {run.id} 次分配已重新开放，原因：{run.reopen_reason}")


@allocate_group.command("explain")
@click.argument("application_id", metavar="申请号", type=int)
@click.option(
    "--run",
    "run_id",
    type=int,
    default=None,
    help="分配记录编号；默认取最新的有效分配。",
)
@pass_app
def explain_command(app: AppContext, application_id: int, run_id: int | None) -> None:
    """显示一个申请在分配中的录取说明。示例：admissions allocate explain 1024"""
    from console.db import session_scope
    from console.models import Application
    from console.rules.masking import mask_name
    from console.services.allocation import placement_of, state_label

    with session_scope(app.engine) as session:
        placement, run = placement_of(
            session, application_id=application_id, run_id=run_id
        )
        application = session.get(Application, application_id)
        name = mask_name(application.student_name) if application else ""
    click.echo(
        f"申请 {application_id}（{name}），第 {run.id} 次分配（{state_label(run.state)}）："
    )
    click.echo(placement.explanation)


@allocate_group.command("diff")
@click.argument("first_run", metavar="第一次分配记录编号", type=int)
@click.argument("second_run", metavar="第二次分配记录编号", type=int)
@json_option()
@pass_app
def diff_command(
    app: AppContext, first_run: int, second_run: int, as_json: bool
) -> None:
    """列出两次分配之间学校或结果发生变化的儿童。示例：admissions allocate diff 3 4"""
    from tabulate import tabulate

    from console.db import session_scope
    from console.rules.masking import mask_name
    from console.services.allocation import diff_runs, get_run, state_label

    with session_scope(app.engine) as session:
        moves = diff_runs(session, first_id=first_run, second_id=second_run)
        headers = [
            "申请",
            "学生",
            *(
                f"第 {run_id} 次（{state_label(get_run(session, run_id).state)}）"
                for run_id in (first_run, second_run)
            ),
        ]
    if as_json:
        echo_json(
            [
                {
                    "application_id": m.application_id,
                    "student_name": mask_name(m.student_name),
                    "before": m.before,
                    "after": m.after,
                    "phase_before": m.phase_before,
                    "phase_after": m.phase_after,
                }
                for m in moves
            ]
        )
        return
    rows = [
        [
            m.application_id,
            mask_name(m.student_name),
            m.before or "未安排",
            m.after or "未安排",
        ]
        for m in moves
    ]
    click.echo(tabulate(rows, headers=headers))
    click.echo(f"共 {len(moves)} 名儿童结果不同。")


@allocate_group.command("verify")
@click.argument("run_id", metavar="分配记录编号", type=int, required=False)
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="用导出的 JSON 文件复核（admissions export allocation --format json），不读数据库。",
)
@click.option(
    "--seed-source", default=None, help="公开的种子来源值；默认取分配记录中的值。"
)
@pass_app
def verify_command(
    app: AppContext, run_id: int | None, path: str | None, seed_source: str | None
) -> None:
    """复核一次分配：名单哈希、摇号种子、摇号号码、录取结果，以及不超学位、无空位浪费、无高优先级落选。

    示例：admissions allocate verify 3
          admissions allocate verify --file allocation.json --seed-source 3817
    """
    import json
    from pathlib import Path

    from console.db import session_scope
    from console.errors import AdmissionsError
    from console.services.allocation import verify_document, verify_run

    if (run_id is None) == (path is None):
        raise click.UsageError(
            "请指定分配记录编号（例如 admissions allocate verify 3）或 --file 导出文件，二者选一。"
        )
    if path is not None:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AdmissionsError(
                f"无法读取 {path}：{exc}。请使用导出的 JSON 文件。"
            ) from exc
        outcome = verify_document(document, seed_source=seed_source)
    else:
        assert run_id is not None
        with session_scope(app.engine) as session:
            outcome = verify_run(session, run_id=run_id, seed_source=seed_source)
    click.echo(
        f"儿童 {outcome.children} 人；名单哈希 {outcome.input_hash}；种子 {outcome.seed}"
    )
    if outcome.ok:
        click.echo("复核通过：摇号号码和录取结果与记录一致。")
        return
    for problem in outcome.problems[:50]:
        click.echo(problem, err=True)
    if len(outcome.problems) > 50:
        click.echo(f"……另有 {len(outcome.problems) - 50} 处不一致。", err=True)
    raise click.ClickException(f"复核未通过：{len(outcome.problems)} 处不一致。")
