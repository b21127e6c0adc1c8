"""`admissions review`: the bureau's review queues for exceptions and batch C."""

from __future__ import annotations

from typing import Any

import click

from console.commands.options import (
    county_option,
    echo_json,
    json_option,
    pass_app,
    season_option,
    shorten,
)
from console.context import AppContext

_QUEUE_OPTION = click.option(
    "--queue",
    type=click.Choice(["exception", "batch_c", "school"]),
    default="exception",
    show_default=True,
    help="审核队列：exception 异常待审，batch_c C类入学审核，school 学校片区确认。",
)
_SCHOOL_OPTION = click.option(
    "--school",
    "school_code",
    default=None,
    help="学校片区确认队列的学校代码，例如 620402P01。",
)


@click.group("review")
def review_group() -> None:
    """审核队列：教育局核验异常申请、确定C类学生学校，学校确认片区内学生。多人同时审核互不重复。"""


@review_group.command("list")
@county_option()
@season_option()
@_QUEUE_OPTION
@_SCHOOL_OPTION
@json_option()
@pass_app
def list_command(
    app: AppContext,
    county: str,
    season_year: int | None,
    queue: str,
    school_code: str | None,
    as_json: bool,
) -> None:
    """列出一个审核队列的各项及其状态（待领取、审核中、已决定、已关闭）。

    申请已离开队列（例如分配保存后已录取）的项显示为“不在队列”，不能再领取。

    示例：admissions review list --county 白银区 --queue exception
    """
    from tabulate import tabulate

    from console.db import session_scope
    from console.models import STATUS_LABELS
    from console.rules.masking import mask_id_number
    from console.services.review import (
        QUEUES,
        STATE_LABELS,
        decision_label,
        is_in_queue,
        list_items,
        sync_queue,
    )
    from console.services.seasons import get_season

    with session_scope(app.engine) as session:
        season_id = get_season(session, season_year).id
    assert season_id is not None
    sync_queue(app.engine, season_id=season_id, county_code=county, queue=queue)
    with session_scope(app.engine) as session:
        rows = list_items(session, season_id=season_id, county_code=county,
                          queue=queue, school_code=school_code)  # fmt: skip
        data: list[dict[str, Any]] = [
            {
                "item": item.id,
                "application": application.id,
                "student_name": application.student_name,
                "student_id_number": mask_id_number(application.student_id_number),
                # A decided item shows the decision's reason, an open one the
                # problem that put the application in the queue.
                "reason": item.reason
                if item.state == "decided"
                else application.status_reason,
                "state": item.state,
                # False for an open or claimed item whose application has left
                # the queue, for example placed by an allocation commit.
                "in_queue": is_in_queue(queue, application),
                "status": application.status,
                "reviewer": item.decided_by or item.claimed_by or "",
                "decision": item.decision,
                "batch": item.batch,
                "school": item.school_code,
            }
            for item, application in rows
        ]
    if as_json:
        echo_json({"queue": queue, "items": data})
        return
    click.echo(f"{QUEUES[queue]}：共 {len(data)} 项")
    if not data:
        return
    table = [
        [
            row["item"], row["application"], row["student_name"],
            row["student_id_number"],
            _state_label(row, STATE_LABELS, STATUS_LABELS), row["reviewer"],
            decision_label(queue, row["decision"]),
            shorten(row["reason"], 30),
        ]
        for row in data
    ]  # fmt: skip
    headers = ["编号", "申请号", "学生", "身份证号", "状态", "审核人", "决定", "原因"]
    click.echo(tabulate(table, headers=headers, tablefmt="simple"))


@review_group.command("next")
@county_option()
@season_option()
@_QUEUE_OPTION
@_SCHOOL_OPTION
@json_option()
@pass_app
def next_command(
    app: AppContext,
    county: str,
    season_year: int | None,
    queue: str,
    school_code: str | None,
    as_json: bool,
) -> None:
    """领取队列中的下一项并显示申请信息；已领取未决定的项会再次显示。

    示例：admissions review next --county 白银区 --queue exception
    """
    from console.db import session_scope
    from console.services.applicants import detail_of
    from console.services.review import QUEUES, claim_next
    from console.services.seasons import get_season

    with session_scope(app.engine) as session:
        season_id = get_season(session, season_year).id
    assert season_id is not None
    claimed = claim_next(
        app.engine, season_id=season_id, county_code=county, queue=queue,
        reviewer=app.operator, school_code=school_code,
    )  # fmt: skip
    if claimed is None:
        if as_json:
            echo_json({"queue": queue, "item": None})
        else:
            click.echo(f"{QUEUES[queue]}队列中没有待领取的项。")
        return
    item, application = claimed
    detail = detail_of(application)
    if as_json:
        echo_json({"queue": queue, "item": item.id, "application": detail})
        return
    fields = [
        ("申请号", detail["id"]),
        ("学生姓名", detail["student_name"]),
        ("身份证号", detail["student_id_number"]),
        ("现居住地址", detail["address"]),
        ("预报名学校", detail["preferred_school_code"] or ""),
        ("优抚政策", detail["preferential_policy"]),
        ("状态", detail["status_label"]),
        ("状态说明", detail["status_reason"]),
        ("分批说明", detail["batch_reason"]),
    ]
    click.echo(f"{QUEUES[queue]} 第 {item.id} 项，由 {item.claimed_by} 审核：")
    width = max(len(label) for label, _ in fields)
    for label, value in fields:
        click.echo(f"  {label}{'　' * (width - len(label))}  {value}")
    if queue == "school":
        click.echo(
            f'确认：admissions review decide {item.id} --accept --reason "已核对住址"\n'
            f'退回教育局：admissions review decide {item.id} --reject --reason "原因"'
        )
        return
    click.echo(
        f"通过：admissions review decide {item.id} --accept --batch 批次 "
        '--school 学校代码 --reason "核验情况"\n'
        f'不予受理：admissions review decide {item.id} --reject --reason "原因"'
    )


@review_group.command("decide")
@click.argument("item_id", type=int, metavar="审核项编号")
@click.option("--accept", is_flag=True,
              help="通过审核并分批；学校片区确认队列中为确认。")  # fmt: skip
@click.option("--reject", is_flag=True,
              help="不予受理该申请；学校片区确认队列中为退回教育局。")  # fmt: skip
@click.option("--batch", type=click.Choice(["A", "B", "C", "D", "E"]), default=None,
              help="通过时的批次。")  # fmt: skip
@click.option(
    "--school", default=None, help="通过时录取依据的学校代码，例如 620402P01。"
)
@click.option("--reason", required=True, help="决定的依据，记入审计日志。")
@json_option()
@pass_app
def decide_command(
    app: AppContext,
    item_id: int,
    accept: bool,
    reject: bool,
    batch: str | None,
    school: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """对已领取的审核项作出决定：通过（指定批次和学校）或不予受理。

    示例：admissions review decide 3 --accept --batch A --school 620402P01 --reason "已核对房产证原件"
    """
    from console.services.review import decide, decision_label

    # Two separate flags, because with one shared destination Click keeps the last
    # flag typed and "--accept --reject" would reject the application.
    if accept and reject:
        raise click.UsageError(
            "--accept 和 --reject 不能同时使用，请只给出一个决定：通过用 --accept，"
            "不予受理或退回教育局用 --reject。"
        )
    if not accept and not reject:
        raise click.UsageError("请用 --accept 或 --reject 给出决定。")
    decision = "accept" if accept else "reject"
    item, application = decide(
        app.engine, item_id, reviewer=app.operator, accept=decision == "accept",
        reason=reason, batch=batch, school_code=school,
    )  # fmt: skip
    if as_json:
        echo_json(_decision_data(item, application))
        return
    outcome = decision_label(item.queue, decision)
    if decision == "accept" and item.queue != "school":
        outcome += f"，{item.batch}类，录取依据学校 {item.school_code}"
    click.echo(f"审核项 {item.id}（申请 {application.id}）：{outcome}。")


def _state_label(
    row: dict[str, Any], state_labels: dict[str, str], status_labels: dict[str, str]
) -> str:
    """Label an item's state, naming the application's status once it left the queue.

    Without this an open item of a placed child reads as waiting, although
    `review next` no longer gives it out and `stats` no longer counts it.
    """
    if row["state"] in ("open", "claimed") and not row["in_queue"]:
        status = status_labels.get(row["status"], row["status"])
        return f"不在队列（{status}）"
    return state_labels.get(row["state"], row["state"])


def _decision_data(item: Any, application: Any) -> dict[str, Any]:
    return {
        "item": item.id,
        "application": application.id,
        "decision": item.decision,
        "batch": item.batch,
        "school": item.school_code,
        "status": application.status,
        "decided_by": item.decided_by,
    }
