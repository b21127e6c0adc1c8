"""Parents' consultations, complaints and appeals on a real SQLite file.

Every name, ID number and mobile here is made up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from console.cli import cli
from console.db import create_schema, make_engine, session_scope
from console.errors import AdmissionsError
from console.models import AuditEvent, ParentCase, Window
from console.services.cases import open_case, resolve_case
from console.services.intake import import_rows
from console.services.reference import load_reference
from console.services.seasons import open_window
from tests.postgres import postgres_schema
from tests.test_import_files import make_row


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'season.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code="620402", actor="tester")
        open_window(session, year=2025, county_code="620403", actor="tester")
        window = session.scalars(
            select(Window).where(Window.county_code == "620402")
        ).one()
    import_rows(engine, [make_row(i) for i in range(3)], window=window,
                source="import", actor="tester")  # fmt: skip
    engine.dispose()
    return url


def run(db_url: str, *args: str, operator: str = "接待员") -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, "--operator", operator, *args])
    return result.exit_code, result.output


def test_complaint_opened_listed_and_resolved(db_url: str) -> None:
    code, output = run(
        db_url, "cases", "open", "--county", "白银区", "--kind", "complaint",
        "--summary", "对片区划分有异议，认为小区应属人民路小学", "--application", "2",
        "--mobile", "138 1234 5678",
    )  # fmt: skip
    assert code == 0, output
    assert "已登记投诉，编号 1" in output

    code, output = run(db_url, "cases", "list", "--county", "白银区")
    assert code == 0, output
    assert "138****5678" in output
    assert "13812345678" not in output
    assert "未办结" in output

    code, output = run(db_url, "cases", "resolve", "1", "--resolution",
                       "已核实小区属人民路小学片区，电话答复家长", operator="科长")  # fmt: skip
    assert code == 0, output
    code, output = run(db_url, "cases", "resolve", "1", "--resolution", "再办一次")
    assert code == 1
    assert "已由 科长 办结" in output

    engine = make_engine(db_url)
    with Session(engine) as session:
        case = session.exec(select(ParentCase)).scalars().one()
        actions = session.exec(select(AuditEvent.action, AuditEvent.actor).where(
            AuditEvent.entity == "case")).all()  # fmt: skip
    assert (case.state, case.resolved_by, case.application_id) == (
        "resolved",
        "科长",
        2,
    )
    assert case.resolution == "已核实小区属人民路小学片区，电话答复家长"
    assert [tuple(row) for row in actions] == [("case.open", "接待员"),
                                                ("case.resolve", "科长")]  # fmt: skip
    code, output = run(db_url, "stats", "--county", "白银区", "--json")
    assert json.loads(output)["cases"]["complaint"] == {"open": 0, "resolved": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "appeal", "--summary", "  "], "事由不能为空"),
        (["--kind", "appeal", "--summary", "x" * 501], "超过上限500个字"),
        (["--kind", "consultation", "--summary", "询问", "--mobile", "123"],
         "联系电话"),
        (["--kind", "appeal", "--summary", "不服录取结果", "--application", "99"],
         "没有申请号"),
    ],
)  # fmt: skip
def test_bad_case_rejected_in_chinese(
    db_url: str, args: list[str], message: str
) -> None:
    code, output = run(db_url, "cases", "open", "--county", "白银区", *args)

    assert code == 1
    assert message in output
    engine = make_engine(db_url)
    with Session(engine) as session:
        assert session.exec(select(ParentCase)).scalars().all() == []


def test_case_of_another_county_application_rejected(db_url: str) -> None:
    code, output = run(db_url, "cases", "open", "--county", "平川区", "--kind",
                       "appeal", "--summary", "不服录取结果", "--application", "1")  # fmt: skip

    assert code == 1
    assert "不属于本区县" in output


def test_full_width_mobile_accepted(db_url: str) -> None:
    code, output = run(db_url, "cases", "open", "--county", "白银区", "--kind",
                       "consultation", "--summary", "询问报名时间",
                       "--mobile", "１３８ １２３４ ５６７８")  # fmt: skip

    assert code == 0, output
    engine = make_engine(db_url)
    with Session(engine) as session:
        case = session.exec(select(ParentCase)).scalars().one()
    assert case.contact_mobile == "13812345678"


def test_case_of_another_season_application_rejected(db_url: str) -> None:
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        open_window(session, year=2026, county_code="620402", actor="tester")

    # The latest season is 2026, and application 1 belongs to 2025.
    code, output = run(db_url, "cases", "open", "--county", "白银区", "--kind",
                       "complaint", "--summary", "对2025年录取结果有异议",
                       "--application", "1")  # fmt: skip

    assert code == 1
    assert "申请 1 属于2025年度" in output
    assert "--season 2025" in output
    with Session(engine) as session:
        assert session.exec(select(ParentCase)).scalars().all() == []
    code, output = run(db_url, "cases", "open", "--county", "白银区", "--season",
                       "2025", "--kind", "complaint", "--summary",
                       "对2025年录取结果有异议", "--application", "1")  # fmt: skip
    assert code == 0, output


def resolve_from_stale_session(engine: Engine) -> None:
    """Resolve one case from two sessions, the first read before the second wrote.

    SQLite serialises the two with BEGIN IMMEDIATE, so only PostgreSQL runs this.
    """
    with session_scope(engine) as session:
        case = open_case(session, season_id=1, county_code="620402",
                         kind="complaint", summary="对片区划分有异议", actor="接待员")  # fmt: skip
        case_id = case.id
    assert case_id is not None

    with Session(engine) as first:
        # The first desk has loaded the case while it was still open.
        loaded = first.get(ParentCase, case_id)
        assert loaded is not None and loaded.state == "open"
        with session_scope(engine) as second:
            resolve_case(second, case_id, resolution="已电话答复", actor="科长")
        with pytest.raises(AdmissionsError, match="已由 科长 办结"):
            resolve_case(first, case_id, resolution="再次答复", actor="接待员")
        first.rollback()

    with Session(engine) as session:
        case = session.get(ParentCase, case_id)
        assert case is not None
        assert (case.resolved_by, case.resolution) == ("科长", "已电话答复")
        resolves = session.exec(select(AuditEvent).where(
            AuditEvent.action == "case.resolve")).scalars().all()  # fmt: skip
    assert len(resolves) == 1


@pytest.mark.postgres
def test_case_resolved_once_on_postgres(tmp_path: Path) -> None:
    with postgres_schema("cases") as engine:
        create_schema(engine)
        with session_scope(engine) as session:
            load_reference(session)
            open_window(session, year=2025, county_code="620402", actor="tester")
        resolve_from_stale_session(engine)
