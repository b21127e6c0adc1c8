"""Allocation runs against a real SQLite database: commit, approve, reopen, explain, diff."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from console.cli import cli
from console.db import create_schema, make_engine, session_scope
from console.errors import AdmissionsError
from console.models import (
    AllocationRun,
    Application,
    AuditEvent,
    Placement,
    School,
    Status,
    ZoneItem,
)
from console.rules.idnumber import make_id_number
from console.services.allocation import (
    approve_run,
    diff_runs,
    placement_of,
    reopen_run,
    run_allocation,
)
from console.services.reference import load_reference
from console.services.seasons import open_window

COUNTY = "620402"
SCHOOL = "620402P07"  # 45 seats in the fixtures


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'alloc.db'}")
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code=COUNTY, actor="tester")
    return engine


def add_children(
    session: Session,
    count: int,
    *,
    school: str = SCHOOL,
    batch: str = "A",
    start: int = 0,
    stage: str = "primary",
    primary: str | None = None,
) -> list[int]:
    """Add `count` classified applications of invented children in the zone of `school`."""
    zone = session.exec(select(ZoneItem).where(ZoneItem.school_code == school)).first()
    season_id = 1
    ids = []
    for number in range(start, start + count):
        first_birth = date(2019, 1, 1) if stage == "primary" else date(2013, 1, 1)
        birth = first_birth + timedelta(days=number // 999)
        sequence = number % 999 + 1
        application = Application(
            season_id=season_id,
            county_code=COUNTY,
            stage=stage,
            student_name=f"测试{number}",
            student_id_number=make_id_number(COUNTY, birth, sequence),
            gender="男",
            birth_date=birth,
            address="白银区测试地址",
            preferred_school_code=school if stage == "primary" else None,
            primary_school_code=primary,
            guardian_name="家长",
            guardian_id_number=make_id_number(
                COUNTY, date(1990, 1, 1) + (birth - first_birth), sequence
            ),
            guardian_relation="父亲",
            guardian_mobile="13800000000",
            property_certificate_no=f"甘(2020)白银区不动产权第{number:07d}号",
            emergency_name="联系人",
            emergency_id_number=make_id_number(COUNTY, date(1960, 1, 1), 1),
            emergency_relation="祖父",
            emergency_mobile="13900000000",
            consent=True,
            submitted_at=datetime(2025, 7, 1, 0, 0, number % 60, tzinfo=UTC),
            status=Status.CLASSIFIED,
            batch=batch,
            zone_school_code=school if stage == "primary" else None,
            zone_item_id=zone.id if zone else None,
            household_date=date(2015, 1, 1 + number % 28),
            property_date=date(2016, 1, 1),
            insurance_months=12,
        )
        session.add(application)
        session.flush()
        ids.append(application.id)
    return ids


def test_commit_places_everyone_or_reports(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 60)
    with session_scope(engine) as session:
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    assert report.run_id is not None
    assert report.children == 60
    with Session(engine) as session:
        statuses = session.exec(select(Application.status)).all()
        assert set(statuses) <= {Status.PLACED, Status.UNPLACED}
        reasons = session.exec(select(Application.status_reason)).all()
        assert all(reasons)
        placements = session.exec(select(Placement)).all()
        assert len(placements) == 60
        at_school = [p for p in placements if p.school_code == SCHOOL]
        assert len(at_school) == 45
        adjusted = [p for p in placements if p.phase == "adjust"]
        assert len(adjusted) == 15
        seats = {s.code: s.seats for s in session.exec(select(School))}
        for code in {p.school_code for p in placements if p.school_code}:
            assert sum(p.school_code == code for p in placements) <= seats[code]


def test_dry_run_writes_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 10)
    with session_scope(engine) as session:
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=False,
        )
    assert report.run_id is None
    assert report.placed == 10
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Placement)).one() == 0
        assert session.exec(select(func.count()).select_from(AllocationRun)).one() == 0
        assert set(session.exec(select(Application.status)).all()) == {
            Status.CLASSIFIED
        }


def test_interrupted_run_leaves_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 2500)  # the first flush comes after 2,000 placements

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt  # as if the operator pressed Ctrl-C after the first flush

    with pytest.raises(KeyboardInterrupt), session_scope(engine) as session:
        run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
            on_progress=interrupt,
        )
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Placement)).one() == 0
        assert session.exec(select(func.count()).select_from(AllocationRun)).one() == 0
        assert set(session.exec(select(Application.status)).all()) == {
            Status.CLASSIFIED
        }


def test_approved_run_refuses_rerun(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 5)
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    assert report.run_id is not None
    with session_scope(engine) as session:
        approve_run(session, run_id=report.run_id, actor="chief")
    with (
        pytest.raises(AdmissionsError, match="reopen"),
        session_scope(engine) as session,
    ):
        run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    with pytest.raises(AdmissionsError, match="原因"), session_scope(engine) as session:
        reopen_run(session, run_id=report.run_id, actor="chief", reason="  ")
    with session_scope(engine) as session:
        reopen_run(
            session, run_id=report.run_id, actor="chief", reason="申诉核实后更正"
        )
    with session_scope(engine) as session:
        second = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    with Session(engine) as session:
        first_run = session.get(AllocationRun, report.run_id)
        assert first_run is not None
        assert first_run.state == "superseded"
        assert first_run.approved_by == "chief"
        actions = session.exec(select(AuditEvent.action)).all()
        assert "allocation.reopen" in actions
        assert "allocation.approve" in actions
        assert (
            diff_runs(session, first_id=report.run_id, second_id=second.run_id or 0)
            == []
        )


def test_explain_names_batch_rank_and_school(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = add_children(session, 50)
        run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    with Session(engine) as session:
        placement, _run = placement_of(session, application_id=ids[0])
    assert "A 批次内排第" in placement.explanation
    assert "白银区四龙镇中心小学" in placement.explanation


def test_cli_dry_run_prints_table(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 50)
    url = str(engine.url)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--db", url, "allocate", "--county", "白银区", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "白银区四龙镇中心小学" in result.output
    assert "试运行" in result.output
    committed = runner.invoke(
        cli, ["--db", url, "allocate", "--county", "白银区", "--commit"]
    )
    assert committed.exit_code == 0, committed.output
    explained = runner.invoke(cli, ["--db", url, "allocate", "explain", "1"])
    assert explained.exit_code == 0, explained.output
    assert "片区学校" in explained.output
