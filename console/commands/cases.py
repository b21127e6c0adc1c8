"""`admissions cases`: parents' consultations, complaints and appeals."""

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

_KINDS = click.Choice(["consultation", "complaint", "appeal"])


@click.group("cases")
def cases_group() -> None:
    """家长咨询、投诉、申诉：登记、查看、办结。"""


@cases_group.command("open")
@county_option()
@season_option()
@click.option("--kind", type=_KINDS, required=True,
              help="类型：consultation 咨询，complaint 投诉，appeal 申诉。")  # fmt: skip
@click.option("--summary", required=True, help="家长反映的事由。")
@click.option("--application", "application_key", default=None,
              help="相关申请的申请号或学生身份证号。")  # fmt: skip
@click.option("--mobile", default=None, help="家长手机号码（11位），打码显示。")
@pass_app
def open_command(
    app: AppContext,
    county: str,
    season_year: int | None,
    kind: str,
    summary: str,
    application_key: str | None,
    mobile: str | None,
) -> None:
    """登记一条家长咨询、投诉或申诉。

    示例：admissions cases open --county 白银区 --kind complaint --summary "对片区划分有异议" --application 12
    """
    from console.db import session_scope
    from console.services.cases import KINDS, open_case
    from console.services.seasons import get_season

    with session_scope(app.engine) as session:
        season = get_season(session, season_year)
        assert season.id is not None
        case = open_case(
            session, season_id=season.id, county_code=county, kind=kind,
            summary=summary, actor=app.operator, application_key=application_key,
            mobile=mobile,
        )  # fmt: skip
        message = f"已登记{KINDS[kind]}，编号 {case.id}。"
    click.echo(message)


@cases_group.command("list")
@county_option(required=False)
@season_option()
@click.option("--kind", type=_KINDS, default=None, help="只看一种类型。")
@click.option("--state", type=click.Choice(["open", "resolved"]), default=None,
              help="open 未办结，resolved 已办结。")  # fmt: skip
@json_option()
@pass_app
def list_command(
    app: AppContext,
    county: str | None,
    season_year: int | None,
    kind: str | None,
    state: str | None,
    as_json: bool,
) -> None:
    """列出咨询、投诉、申诉记录，联系电话打码显示。

    示例：admissions cases list --county 白银区 --state open
    """
    from tabulate import tabulate

    from console.db import session_scope
    from console.rules.masking import mask_mobile
    from console.services.applicants import local_time
    from console.services.cases import KINDS, STATES, CaseFilter, list_cases
    from console.services.seasons import get_season

    with session_scope(app.engine) as session:
        season = get_season(session, season_year)
        assert season.id is not None
        cases = list_cases(session, season_id=season.id, filters=CaseFilter(
            county_code=county, kind=kind, state=state))  # fmt: skip
        rows: list[dict[str, Any]] = [
            {
                "id": case.id,
                "county": case.county_code,
                "kind": case.kind,
                "state": case.state,
                "application": case.application_id,
                "mobile": mask_mobile(case.contact_mobile)
                if case.contact_mobile
                else "",
                "summary": case.summary,
                "opened_by": case.opened_by,
                "opened_at": local_time(case.opened_at),
                "resolution": case.resolution,
                "resolved_by": case.resolved_by,
                "resolved_at": local_time(case.resolved_at),
            }
            for case in cases
        ]
    if as_json:
        echo_json({"cases": rows})
        return
    click.echo(f"共 {len(rows)} 条")
    if not rows:
        return
    table = [
        [row["id"], KINDS[row["kind"]], STATES[row["state"]], row["application"] or "",
         row["mobile"], shorten(row["summary"], 24), row["opened_at"][:16],
         shorten(row["resolution"], 24)]
        for row in rows
    ]  # fmt: skip
    headers = [
        "编号",
        "类型",
        "状态",
        "申请号",
        "联系电话",
        "事由",
        "登记时间",
        "办理结果",
    ]
    click.echo(tabulate(table, headers=headers, tablefmt="simple"))


@cases_group.command("resolve")
@click.argument("case_id", type=int, metavar="记录编号")
@click.option("--resolution", required=True, help="办理结果，记入审计日志。")
@pass_app
def resolve_command(app: AppContext, case_id: int, resolution: str) -> None:
    """办结一条咨询、投诉或申诉记录。

    示例：admissions cases resolve 3 --resolution "已电话答复家长片区划分依据"
    """
    from console.db import session_scope
    from console.services.cases import KINDS, resolve_case

    with session_scope(app.engine) as session:
        case = resolve_case(session, case_id, resolution=resolution, actor=app.operator)
        message = f"{KINDS[case.kind]} {case.id} 已办结。"
    click.echo(message)
