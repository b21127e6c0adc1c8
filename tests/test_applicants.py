"""`admissions applicants list|search|show` on a real SQLite file.

Every name, ID number and mobile here is made up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine
from wcwidth import wcswidth

from console.cli import cli
from console.db import create_schema, make_engine, session_scope
from console.models import Application, AuditEvent, Notice, Status, Window
from console.services.intake import import_rows
from console.services.reference import load_reference
from console.services.seasons import open_window
from tests.test_import_files import make_row

MINORITY = "阿依古丽·买买提"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'season.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code="620402", actor="tester")
        window = session.scalars(select(Window)).one()
    rows = [make_row(i) for i in range(12)]
    rows[4]["student_name"] = MINORITY
    rows[5]["consent"] = "否"
    import_rows(engine, rows, window=window, source="import", actor="tester")
    with session_scope(engine) as session:
        first = session.get(Application, 1)
        assert first is not None
        first.batch = "A"
        session.add(first)
    return url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


def run(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, "--operator", "clerk", *args])
    return result.exit_code, result.output


def table_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line and not line.startswith("共")]


def cut_at_display_columns(line: str, starts: list[int]) -> list[str]:
    """Split a line at terminal display columns; fail when a wide character straddles one."""
    cells: list[str] = []
    position = 0
    current = ""
    boundaries = starts[1:]
    for character in line:
        if boundaries and position == boundaries[0]:
            cells.append(current)
            current = ""
            boundaries.pop(0)
        assert not boundaries or position < boundaries[0], f"misaligned: {line!r}"
        current += character
        position += wcswidth(character)
    cells.append(current)
    return [cell.strip() for cell in cells]


def test_list_columns_line_up(db_url: str) -> None:
    code, output = run(db_url, "applicants", "list")
    assert code == 0, output
    header, rule, *rows = table_lines(output)
    starts = [index for index, char in enumerate(rule) if char == "-" and (
        index == 0 or rule[index - 1] == " ")]  # fmt: skip
    assert len(rows) == 12
    assert cut_at_display_columns(header, starts)[:3] == [
        "申请号",
        "学生姓名",
        "身份证号",
    ]
    names = [cut_at_display_columns(row, starts)[1] for row in rows]
    assert MINORITY in names
    for row in rows:
        cells = cut_at_display_columns(row, starts)
        assert cells[3] in ("男", "女")
        assert cells[-1].startswith("2025-07-01 ")
    assert "共 12 条" in output


def test_list_masks_numbers(db_url: str) -> None:
    row = make_row(0)
    code, output = run(db_url, "applicants", "list")
    assert row["student_id_number"] not in output
    assert (
        row["student_id_number"][:6] + "********" + row["student_id_number"][-4:]
        in output
    )
    assert "138****0000" in output


def test_list_filters(db_url: str) -> None:
    _, by_school = run(
        db_url, "applicants", "list", "--school", "白银区公园路小学", "--json"
    )
    _, offline = run(db_url, "applicants", "list", "--status", "线下核验", "--json")
    _, batch_a = run(db_url, "applicants", "list", "--batch", "a", "--json")
    _, county = run(db_url, "applicants", "list", "--county", "平川区", "--json")
    assert json.loads(by_school)["total"] == 4
    assert [item["status"] for item in json.loads(offline)["items"]] == [Status.OFFLINE]
    assert [item["id"] for item in json.loads(batch_a)["items"]] == [1]
    assert json.loads(county)["total"] == 0


def test_list_pages(db_url: str) -> None:
    _, output = run(
        db_url, "applicants", "list", "--limit", "5", "--offset", "10", "--json"
    )
    data = json.loads(output)
    assert data["total"] == 12
    assert len(data["items"]) == 2


def test_list_bad_filter_values(db_url: str) -> None:
    code, output = run(db_url, "applicants", "list", "--status", "在途")
    assert code == 1
    assert "已提交" in output
    code, output = run(db_url, "applicants", "list", "--school", "不存在学校")
    assert code == 1
    assert "620402P01" in output


def test_search_by_last_digits_and_name(db_url: str) -> None:
    row = make_row(7)
    _, by_id = run(
        db_url, "applicants", "search", row["student_id_number"][-4:], "--json"
    )
    _, by_mobile = run(db_url, "applicants", "search", row["guardian_mobile"], "--json")
    _, by_name = run(db_url, "applicants", "search", "阿依古丽", "--json")
    assert row["student_name"] in [
        i["student_name"] for i in json.loads(by_id)["items"]
    ]
    assert [i["student_name"] for i in json.loads(by_mobile)["items"]] == [
        row["student_name"]
    ]
    assert [i["student_name"] for i in json.loads(by_name)["items"]] == [MINORITY]


def test_search_beyond_limit_says_so(db_url: str) -> None:
    """Eleven children are named 测试…号, and --limit 5 shows five of them."""
    code, output = run(db_url, "applicants", "search", "测试", "--limit", "5")
    assert code == 0, output
    assert len(table_lines(output)) == 2 + 5 + 1  # header, rule, rows, summary
    assert "只显示前 5 条" in output
    assert "找到 5 条" not in output

    code, output = run(db_url, "applicants", "search", "测试", "--limit", "5", "--json")
    assert code == 0, output
    data = json.loads(output)
    assert len(data["items"]) == 5
    assert data["more"] is True

    code, output = run(
        db_url, "applicants", "search", "测试", "--limit", "11", "--json"
    )
    assert json.loads(output)["more"] is False


def test_search_nothing_found(db_url: str) -> None:
    code, output = run(db_url, "applicants", "search", "不存在的名字")
    assert code == 0
    assert "没有找到" in output


def test_show_by_id_number_with_history(db_url: str) -> None:
    row = make_row(2)
    code, output = run(db_url, "applicants", "show", row["student_id_number"])
    assert code == 0, output
    assert row["student_name"] in output
    assert row["guardian_id_number"] not in output
    assert "新建申请" in output
    assert "application.create" not in output


def test_show_json_keeps_action_code(db_url: str) -> None:
    code, output = run(db_url, "applicants", "show", "2", "--json")
    assert code == 0, output
    event = json.loads(output)["events"][0]
    assert event["action"] == "application.create"
    assert event["action_label"] == "新建申请"


def test_show_unmask_is_audited(db_url: str, engine: Engine) -> None:
    row = make_row(2)
    code, output = run(db_url, "applicants", "show", "3", "--unmask")
    assert code == 0, output
    assert row["guardian_id_number"] in output
    with session_scope(engine) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "applicant.unmask")
        ).one()
    assert event.actor == "clerk"
    assert event.entity_id == "3"


def test_show_unknown_key(db_url: str) -> None:
    code, output = run(db_url, "applicants", "show", "999")
    assert code == 1
    assert "applicants search" in output


def test_show_county_by_name(db_url: str) -> None:
    code, output = run(db_url, "applicants", "show", "1")
    assert code == 0, output
    county_line = next(line for line in output.splitlines() if "区县" in line)
    assert "白银区" in county_line
    assert county_line.split()[-1] != "620402"


def test_list_exceptions_show_reason(db_url: str, engine: Engine) -> None:
    long_reason = "户籍登记的姓名与申请不一致，" * 10
    with session_scope(engine) as session:
        for app_id, reason in ((2, "居住证已过期"), (3, long_reason)):
            application = session.get(Application, app_id)
            assert application is not None
            application.status = Status.EXCEPTION
            application.status_reason = reason
            session.add(application)

    code, output = run(db_url, "applicants", "list", "--status", "exception")

    assert code == 0, output
    header, rule, *rows = table_lines(output)
    starts = [index for index, char in enumerate(rule) if char == "-" and (
        index == 0 or rule[index - 1] == " ")]  # fmt: skip
    column = cut_at_display_columns(header, starts).index("状态说明")
    reasons = [cut_at_display_columns(row, starts)[column] for row in rows]
    assert reasons[0] == "居住证已过期"
    assert reasons[1].endswith("…")
    assert wcswidth(reasons[1]) <= 24
    _, as_json = run(db_url, "applicants", "list", "--status", "exception", "--json")
    assert json.loads(as_json)["items"][1]["status_reason"] == long_reason


def test_not_found_key_masked(db_url: str) -> None:
    missing = make_row(900)["student_id_number"]
    code, output = run(db_url, "applicants", "show", missing)
    assert code == 1
    assert missing not in output
    _, output = run(db_url, "applicants", "search", "13899990000")
    assert "13899990000" not in output
    assert "138****0000" in output


def test_show_other_applications_status_label(db_url: str, engine: Engine) -> None:
    with session_scope(engine) as session:
        first = session.get(Application, 1)
        assert first is not None
        first.status = Status.WITHDRAWN
        session.add(first)
        session.flush()
        again = Application.model_validate(first.model_dump(exclude={"id"}))
        again.status = Status.SUBMITTED
        session.add(again)
        session.flush()
        again_id = again.id

    code, output = run(db_url, "applicants", "show", str(again_id))

    assert code == 0, output
    others = output.split("该学生的其他申请：")[1]
    assert "已撤回" in others
    assert "withdrawn" not in others


def test_search_cannot_reveal_masked_digits(db_url: str) -> None:
    """Digits hidden by the mask never decide a match, or a search would leak them."""
    row = make_row(7)
    id_number = row["student_id_number"]
    mobile = row["guardian_mobile"]
    hidden_probes = [
        id_number[:10],  # division code and birth year and month
        id_number[:17],
        id_number[-6:],
        id_number[-12:],
        mobile[:7],
        mobile[-6:],
    ]

    for probe in hidden_probes:
        code, output = run(db_url, "applicants", "search", probe, "--json")
        assert code == 0, output
        # A probe of digits may still equal another application's number.
        names = [item["student_name"] for item in json.loads(output)["items"]]
        assert row["student_name"] not in names, probe

    for visible in (id_number, id_number[-4:], mobile, mobile[-4:]):
        code, output = run(db_url, "applicants", "search", visible, "--json")
        names = [item["student_name"] for item in json.loads(output)["items"]]
        assert row["student_name"] in names, visible
    code, output = run(db_url, "applicants", "search", id_number[:6], "--json")
    assert len(json.loads(output)["items"]) == 12


def test_withdraw_then_resubmit_keeps_history(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    code, output = run(
        db_url, "applicants", "withdraw", "3", "--reason", "家长申请撤回"
    )

    assert code == 0, output
    assert "申请 3（测试2号）已撤回" in output
    with session_scope(engine) as session:
        withdrawn = session.get(Application, 3)
        assert withdrawn is not None
        assert withdrawn.status == Status.WITHDRAWN
        assert withdrawn.status_reason == "已撤回：家长申请撤回"
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "application.withdraw")
        ).one()
        assert (event.actor, event.entity_id) == ("clerk", "3")
        assert event.detail == {"reason": "家长申请撤回", "previous_status": "submitted",
                                "cancelled_notices": 0}  # fmt: skip
        window = session.scalars(select(Window)).one()

    # The family applies again: a new application that names the withdrawn one.
    report = import_rows(engine, [make_row(2)], window=window, source="import",
                         actor="tester")  # fmt: skip
    assert report.stored == 1
    with session_scope(engine) as session:
        again = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "application.resubmit")
        ).one()
        assert again.detail is not None
        assert again.detail["previous_application"] == 3
    code, output = run(db_url, "applicants", "show", "3")
    assert "撤回申请" in output


def test_withdraw_needs_reason_and_live_application(db_url: str) -> None:
    code, output = run(db_url, "applicants", "withdraw", "3", "--reason", "  ")
    assert code == 1
    assert "必须说明原因" in output

    assert run(db_url, "applicants", "withdraw", "3", "--reason", "家长申请")[0] == 0
    code, output = run(db_url, "applicants", "withdraw", "3", "--reason", "再次撤回")
    assert code == 1
    assert "已是“已撤回”状态" in output
    code, output = run(db_url, "applicants", "defer", "3", "--reason", "因病")
    assert code == 1
    assert "不能再办理缓学" in output


def test_defer_cancels_unsent_notices(db_url: str, engine: Engine) -> None:
    with session_scope(engine) as session:
        for state in ("pending", "failed", "delivered"):
            session.add(Notice(application_id=4, dedup_key=f"result:4:{state}",
                               kind="result", mobile="13800000004", text="测试",
                               state=state))  # fmt: skip

    code, output = run(db_url, "applicants", "defer", "4", "--reason", "因病缓学一年")

    assert code == 0, output
    assert "已办理缓学" in output
    with session_scope(engine) as session:
        application = session.get(Application, 4)
        assert application is not None
        assert application.status == Status.DEFERRED
        states = sorted(session.scalars(
            select(Notice.state).where(Notice.application_id == 4)).all())  # fmt: skip
    assert states == ["cancelled", "cancelled", "delivered"]
    code, output = run(db_url, "stats", "--json")
    assert json.loads(output)["notices"]["by_state"]["cancelled"] == 2

    # A deferred child keeps the season's live application: a changed row is rejected.
    with session_scope(engine) as session:
        window = session.scalars(select(Window)).one()
    changed = make_row(3, preferred_school="白银区工农路小学")
    report = import_rows(engine, [changed], window=window, source="import",
                         actor="tester")  # fmt: skip
    assert (report.stored, report.rejected) == (0, 1)
    assert "缓学" in report.errors[0].message


def test_reject_records_reason_and_allows_new_application(
    db_url: str, engine: Engine
) -> None:
    code, output = run(
        db_url, "applicants", "reject", "5", "--reason", "房产证明与登记信息不符"
    )

    assert code == 0, output
    assert "已不予受理" in output
    with session_scope(engine) as session:
        rejected = session.get(Application, 5)
        assert rejected is not None
        assert rejected.status == Status.REJECTED
        assert rejected.status_reason == "不予受理：房产证明与登记信息不符"
        window = session.scalars(select(Window)).one()
    code, output = run(db_url, "applicants", "reject", "5", "--reason", "再次")
    assert code == 1
    assert "不能再作不予受理处理" in output
    # With corrected documents the child applies again.
    report = import_rows(engine, [make_row(4)], window=window, source="import",
                         actor="tester")  # fmt: skip
    assert report.stored == 1


def test_explain_names_status_of_unplaced_application(db_url: str) -> None:
    run(db_url, "applicants", "withdraw", "3", "--reason", "家长申请撤回")

    code, output = run(db_url, "allocate", "explain", "3")

    assert code == 1
    assert "该申请现为“已撤回”（已撤回：家长申请撤回）" in output
    assert "admissions applicants show 3" in output
