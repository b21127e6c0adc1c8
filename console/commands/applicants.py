"""`admissions applicants`: list, search and show applications, numbers masked."""

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

_UNMASK_HELP = "显示完整身份证号和手机号（记入审计日志）。"
_LIST_HEADERS = ["申请号", "学生姓名", "身份证号", "性别", "预报名学校", "状态",
                 "状态说明", "批次", "监护人手机", "申报时间"]  # fmt: skip
# Display columns of the status reason in a list; longer reasons end in an ellipsis.
_REASON_WIDTH = 20


@click.group("applicants")
def applicants_group() -> None:
    """查询申请：列表、搜索、详情；撤回、缓学、不予受理。身份证号和手机号默认打码显示。"""


@applicants_group.command("list")
@season_option()
@county_option(required=False)
@click.option("--school", default=None, help="预报名学校代码或名称，例如 620402P01。")
@click.option("--status", default=None, help="状态，例如 submitted 或 已提交。")
@click.option("--batch", default=None, help="批次 A-E。")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="最多显示的条数。")  # fmt: skip
@click.option(
    "--offset", type=click.IntRange(0), default=0, help="跳过前面的条数，用于翻页。"
)
@click.option("--unmask", is_flag=True, help=_UNMASK_HELP)
@json_option()
@pass_app
def list_command(
    app: AppContext,
    season_year: int | None,
    county: str | None,
    school: str | None,
    status: str | None,
    batch: str | None,
    limit: int,
    offset: int,
    unmask: bool,
    as_json: bool,
) -> None:
    """按区县、学校、状态、批次列出申请，按申报时间排序。

    示例：admissions applicants list --county 白银区 --status 已提交 --limit 20
    """
    from console.db import session_scope
    from console.services.applicants import (
        ApplicationFilter,
        list_applications,
        record_unmask,
        school_names,
        summary_of,
    )

    filters = ApplicationFilter(season_year=season_year, county_code=county,
                                school=school, status=status, batch=batch)  # fmt: skip
    with session_scope(app.engine) as session:
        page, total = list_applications(session, filters=filters, limit=limit,
                                        offset=offset)  # fmt: skip
        if unmask and page:
            record_unmask(session, actor=app.operator,
                          application_ids=[a.id for a in page if a.id is not None])  # fmt: skip
        summaries = [summary_of(a, unmask=unmask) for a in page]
        names = school_names(session)
    if as_json:
        echo_json({"total": total, "offset": offset, "items": summaries})
        return
    _echo_summaries(summaries, names)
    shown_to = offset + len(summaries)
    click.echo(
        f"共 {total} 条，显示第 {offset + 1 if summaries else 0}-{shown_to} 条。"
    )


@applicants_group.command("search")
@click.argument("text", metavar="搜索内容")
@season_option()
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True,
              help="最多显示的条数。")  # fmt: skip
@click.option("--unmask", is_flag=True, help=_UNMASK_HELP)
@json_option()
@pass_app
def search_command(
    app: AppContext, text: str, season_year: int | None, limit: int, unmask: bool,
    as_json: bool,
) -> None:  # fmt: skip
    """按姓名、身份证号（或末4位）、手机号（或末4位）、申请号、申报编号搜索。

    示例：admissions applicants search 1711
    """
    from console.db import session_scope
    from console.intake.validate import mask_numbers_in
    from console.services.applicants import (
        record_unmask,
        school_names,
        search_applications,
        summary_of,
    )

    with session_scope(app.engine) as session:
        # One row past the limit shows whether the list was cut. NOTE: the service
        # caps a search at MAX_LIMIT rows, so at --limit 10000 a cut is not seen.
        found = search_applications(
            session, text, season_year=season_year, limit=limit + 1
        )
        more = len(found) > limit
        found = found[:limit]
        if unmask and found:
            record_unmask(session, actor=app.operator,
                          application_ids=[a.id for a in found if a.id is not None])  # fmt: skip
        summaries = [summary_of(a, unmask=unmask) for a in found]
        names = school_names(session)
    if as_json:
        echo_json({"items": summaries, "more": more})
        return
    if not summaries:
        click.echo(f"没有找到与“{mask_numbers_in(text)}”匹配的申请。")
        return
    _echo_summaries(summaries, names)
    if more:
        click.echo(
            f"匹配的申请多于 {limit} 条，只显示前 {limit} 条。"
            "请输入更多位数或完整姓名缩小范围，或加大 --limit。"
        )
    else:
        click.echo(f"找到 {len(summaries)} 条。")


@applicants_group.command("show")
@click.argument("key", metavar="申请号或身份证号")
@click.option("--unmask", is_flag=True, help=_UNMASK_HELP)
@json_option()
@pass_app
def show_command(app: AppContext, key: str, unmask: bool, as_json: bool) -> None:
    """显示一份申请的全部信息、处理记录和该学生的其他申请。可按申请号或学生身份证号查找。

    示例：admissions applicants show 12
    """
    from tabulate import tabulate

    from console.db import session_scope
    from console.intake.headers import FIELD_LABELS
    from console.models import STATUS_LABELS
    from console.services.applicants import (
        application_history,
        county_names,
        detail_of,
        get_application,
        local_time,
        record_unmask,
        school_names,
    )
    from console.services.audit import action_label

    with session_scope(app.engine) as session:
        application = get_application(session, key)
        if unmask and application.id is not None:
            record_unmask(session, actor=app.operator, application_ids=[application.id])
        detail = detail_of(application, unmask=unmask)
        history = application_history(session, application)
        names = school_names(session)
        counties = county_names(session)
    detail["county_name"] = counties.get(detail["county_code"], "")
    events = [
        {
            "at": local_time(e.at),
            "actor": e.actor,
            "action": e.action,
            "action_label": action_label(e.action),
            "detail": e.detail,
        }
        for e in history["events"]
    ]
    others = [{"id": o.id, "status": o.status,
               "status_label": STATUS_LABELS.get(o.status, o.status),
               "submitted_at": local_time(o.submitted_at)}
              for o in history["others"]]  # fmt: skip
    if as_json:
        echo_json(
            {"application": detail, "events": events, "other_applications": others}
        )
        return
    labels = {
        "id": "申请号", **FIELD_LABELS, "county_code": "区县", "gender": "性别",
        "birth_date": "出生日期",
        "preferred_school_code": "预报名学校", "status_label": "状态",
        "status_reason": "状态说明", "batch": "批次", "batch_reason": "分批理由",
        "zone_school_code": "片区学校", "flags": "标记", "source": "来源",
        "external_ref": "平台申报编号",
    }  # fmt: skip
    rows = []
    for name, label in labels.items():
        if name not in detail or detail[name] in (None, ""):
            continue
        value = detail[name]
        if name in ("preferred_school_code", "zone_school_code"):
            value = f"{names.get(value, value)}（{value}）"
        elif name == "county_code":
            value = f"{counties.get(value, value)}（{value}）"
        elif isinstance(value, bool):
            value = "是" if value else "否"
        rows.append([label, value])
    click.echo(tabulate(rows, tablefmt="plain"))
    if events:
        click.echo("\n处理记录：")
        click.echo(tabulate([[e["at"], e["actor"], e["action_label"]] for e in events],
                            headers=["时间", "操作员", "操作"], tablefmt="simple"))  # fmt: skip
    if others:
        click.echo("\n该学生的其他申请：")
        click.echo(tabulate([[o["id"], o["status_label"], o["submitted_at"]] for o in others],
                            headers=["申请号", "状态", "申报时间"], tablefmt="simple"))  # fmt: skip


@applicants_group.command("withdraw")
@click.argument("key", metavar="申请号或身份证号")
@click.option(
    "--reason", required=True, help="撤回原因，记入审计日志，例如 家长申请撤回。"
)
@pass_app
def withdraw_command(app: AppContext, key: str, reason: str) -> None:
    """应家长要求撤回申请。撤回后该学生可以重新报名，原申请和处理记录保留。

    尚未发出的录取短信随之取消。

    示例：admissions applicants withdraw 12 --reason "家长申请撤回"
    """
    from console.services.applicants import withdraw_application

    _end(app, key, reason, withdraw_application, "已撤回")


@applicants_group.command("defer")
@click.argument("key", metavar="申请号或身份证号")
@click.option(
    "--reason", required=True, help="缓学原因，记入审计日志，例如 因病缓学一年。"
)
@pass_app
def defer_command(app: AppContext, key: str, reason: str) -> None:
    """办理缓学：学生退出本年度分配，申请和处理记录保留。

    尚未发出的录取短信随之取消；本年度不能再为该学生导入新的申请。

    示例：admissions applicants defer 12 --reason "因病缓学一年"
    """
    from console.services.applicants import defer_application

    _end(app, key, reason, defer_application, "已办理缓学")


@applicants_group.command("reject")
@click.argument("key", metavar="申请号或身份证号")
@click.option(
    "--reason", required=True, help="不予受理的原因，记入审计日志并写入状态说明。"
)
@pass_app
def reject_command(app: AppContext, key: str, reason: str) -> None:
    """教育局决定不予受理一份申请（例如材料与登记信息不符）。

    原因记入审计日志；尚未发出的录取短信随之取消；学生可补正材料后重新报名。

    示例：admissions applicants reject 12 --reason "房产证明与登记信息不符"
    """
    from console.services.applicants import reject_application

    _end(app, key, reason, reject_application, "已不予受理")


def _end(app: AppContext, key: str, reason: str, end: Any, done: str) -> None:
    """Run a withdrawal or deferral and print its outcome."""
    from console.db import session_scope

    with session_scope(app.engine) as session:
        application = end(session, key, actor=app.operator, reason=reason)
        message = f"申请 {application.id}（{application.student_name}）{done}。"
    click.echo(message)


def _echo_summaries(summaries: list[dict[str, Any]], names: dict[str, str]) -> None:
    from tabulate import tabulate

    rows = [
        [s["id"], s["student_name"], s["student_id_number"], s["gender"],
         names.get(s["preferred_school_code"] or "", s["preferred_school_code"] or ""),
         s["status_label"], shorten(s["status_reason"], _REASON_WIDTH),
         s["batch"] or "", s["guardian_mobile"], s["submitted_at"]]
        for s in summaries
    ]  # fmt: skip
    click.echo(tabulate(rows, headers=_LIST_HEADERS, tablefmt="simple"))
