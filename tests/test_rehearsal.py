"""A whole season on a few hundred simulated families, checked from the database."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, col, func, select

from console.db import make_engine
from console.models import (
    FINAL_STATUSES,
    AllocationRun,
    Application,
    Lookup,
    Notice,
    Placement,
    School,
)
from console.services.rehearsal import run_rehearsal


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    workdir: Path = tmp_path_factory.mktemp("rehearsal")
    engine = make_engine(f"sqlite:///{workdir / 'season.db'}")
    gateway: dict[str, int] = {}

    def count_gateway_messages(url: str) -> None:
        gateway["messages"] = httpx.get(f"{url}/sms/messages", timeout=10).json()[
            "count"
        ]

    result = run_rehearsal(
        engine,
        county_code="620402",
        families=300,
        seed=11,
        year=2025,
        stage="primary",
        workdir=workdir,
        actor="trainer",
        before_stop=count_gateway_messages,
    )
    return engine, result, gateway


def test_every_application_ends_final_with_reason(rehearsal) -> None:  # type: ignore[no-untyped-def]
    engine, _result, _gateway = rehearsal
    with Session(engine) as session:
        applications = list(session.exec(select(Application)))
    assert len(applications) >= 250
    not_final = [a.status for a in applications if a.status not in FINAL_STATUSES]
    assert not_final == []
    without_reason = [a.id for a in applications if not a.status_reason.strip()]
    assert without_reason == []


def test_no_school_exceeds_its_seats(rehearsal) -> None:  # type: ignore[no-untyped-def]
    engine, _result, _gateway = rehearsal
    with Session(engine) as session:
        seats = {s.code: s.seats for s in session.exec(select(School))}
        placed = session.exec(
            select(Placement.school_code, func.count())
            .where(col(Placement.school_code).is_not(None))
            .group_by(Placement.school_code)
        ).all()
    assert placed
    over = [(code, count, seats[code]) for code, count in placed if count > seats[code]]
    assert over == []


def test_placed_children_hold_one_seat(rehearsal) -> None:  # type: ignore[no-untyped-def]
    engine, _result, _gateway = rehearsal
    with Session(engine) as session:
        doubles = session.exec(
            select(Placement.application_id, func.count())
            .where(col(Placement.school_code).is_not(None))
            .group_by(Placement.application_id)
            .having(func.count() > 1)
        ).all()
        placed = session.exec(
            select(func.count())
            .select_from(Application)
            .where(Application.status == "placed")
        ).one()
    assert doubles == []
    assert placed > 0


def test_every_notice_went_through_the_gateway(rehearsal) -> None:  # type: ignore[no-untyped-def]
    engine, _result, gateway = rehearsal
    with Session(engine) as session:
        notices = list(session.exec(select(Notice)))
        notified = session.exec(
            select(func.count())
            .select_from(Application)
            .where(
                col(Application.status).in_(
                    ["placed", "unplaced", "exception", "offline"]
                )
            )
        ).one()
    assert len(notices) == notified
    assert all(n.gateway_message_id for n in notices)
    assert {n.state for n in notices} == {"delivered"}
    assert gateway["messages"] == len(notices)


def test_lookups_only_for_consenting_applications(rehearsal) -> None:  # type: ignore[no-untyped-def]
    engine, _result, _gateway = rehearsal
    with Session(engine) as session:
        looked_up_offline = session.exec(
            select(func.count())
            .select_from(Lookup)
            .join(Application, Lookup.application_id == Application.id)
            .where(Application.consent == False)  # noqa: E712
        ).one()
        lookups = session.exec(select(func.count()).select_from(Lookup)).one()
    assert lookups > 0
    assert looked_up_offline == 0


def test_rehearsal_reports_every_step(rehearsal) -> None:  # type: ignore[no-untyped-def]
    _engine, result, _gateway = rehearsal
    assert [s.name for s in result.steps][0] == "建库与开放报名窗口"
    assert len(result.steps) == 7
    assert result.stats is not None


def test_results_come_from_an_approved_run(rehearsal) -> None:  # type: ignore[no-untyped-def]
    engine, _result, _gateway = rehearsal
    with Session(engine) as session:
        runs = list(session.exec(select(AllocationRun)))
    assert [run.state for run in runs] == ["approved"]
    assert runs[0].approved_by == "trainer"
