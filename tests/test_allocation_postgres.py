"""Allocation runs on the PostgreSQL server at 127.0.0.1:5432, in a schema of their own.

Every name and ID number here is made up.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from console.db import create_schema, session_scope
from console.errors import AdmissionsError
from console.models import AllocationRun, Application, Placement, Status
from console.services.allocation import (
    ProgressCallback,
    approve_run,
    run_allocation,
    verify_run,
)
from console.services.reference import load_reference
from console.services.seasons import open_window
from tests.postgres import postgres_schema
from tests.test_allocation_service import COUNTY, SCHOOL, add_children


@pytest.fixture()
def engine() -> Iterator[Engine]:
    with postgres_schema("allocation") as engine:
        create_schema(engine)
        with session_scope(engine) as session:
            load_reference(session)
            open_window(session, year=2025, county_code=COUNTY, actor="tester")
        yield engine


@pytest.mark.postgres
def test_postgres_commit_and_verify(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 60, batch="E")
    with session_scope(engine) as session:
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
            seed_source="4471",
        )
    assert report.run_id is not None
    with Session(engine) as session:
        at_school = session.exec(
            select(func.count())
            .select_from(Placement)
            .where(Placement.school_code == SCHOOL)
        ).one()
        assert at_school == 45
        outcome = verify_run(session, run_id=report.run_id)
        assert outcome.ok, outcome.problems


@pytest.mark.postgres
def test_postgres_interrupted_run_leaves_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 2500)  # the first flush comes after 2,000 placements

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

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
        runs = session.exec(select(func.count()).select_from(AllocationRun)).one()
        placements = session.exec(select(func.count()).select_from(Placement)).one()
        statuses = set(session.exec(select(Application.status)).all())
    assert runs == 0
    assert placements == 0
    assert statuses == {Status.CLASSIFIED}


def commit_scope(engine: Engine, on_progress: ProgressCallback | None = None) -> int:
    with session_scope(engine) as session:
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
            on_progress=on_progress,
        )
    assert report.run_id is not None
    return report.run_id


@pytest.mark.postgres
def test_postgres_concurrent_commits_supersede(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 30)
    # Each commit waits here, after storing its placements and before its transaction
    # commits, for the other to arrive. Without the scope lock both arrive and both
    # commit. With it the second waits for the lock, so the first stops waiting after
    # the timeout and commits, and then the second supersedes it.
    both_stored = threading.Barrier(2, timeout=3)
    errors: list[BaseException] = []

    def wait_for_other(done: int, total: int) -> None:
        try:
            both_stored.wait()
        except threading.BrokenBarrierError:
            pass

    def commit() -> None:
        try:
            commit_scope(engine, on_progress=wait_for_other)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=commit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []

    with Session(engine) as session:
        states = dict(session.exec(select(AllocationRun.id, AllocationRun.state)).all())
        live_runs = set(
            session.exec(
                select(Placement.run_id)
                .join(AllocationRun)
                .where(AllocationRun.state != "superseded")
            ).all()
        )
    assert sorted(states.values()) == ["committed", "superseded"]
    newest = max(run_id for run_id in states if run_id is not None)
    assert states[newest] == "committed"
    assert live_runs == {newest}

    with session_scope(engine) as session:
        approve_run(session, run_id=newest, actor="chief")
    with Session(engine) as session:
        approved = session.exec(
            select(func.count())
            .select_from(AllocationRun)
            .where(col(AllocationRun.state).in_(("committed", "approved")))
        ).one()
    assert approved == 1


@pytest.mark.postgres
def test_postgres_commit_waits_for_approval(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 30)
    first = commit_scope(engine)
    errors: list[BaseException] = []

    def commit() -> None:
        try:
            commit_scope(engine)
        except BaseException as error:  # checked below
            errors.append(error)

    rival = threading.Thread(target=commit)
    with session_scope(engine) as session:
        approve_run(session, run_id=first, actor="chief")
        rival.start()
        rival.join(timeout=1.5)
        # The rival commit waits for the approval's transaction to end.
        assert rival.is_alive()
    rival.join(timeout=60)

    assert len(errors) == 1
    assert isinstance(errors[0], AdmissionsError)
    assert "reopen" in errors[0].message
    with Session(engine) as session:
        states = session.exec(select(AllocationRun.state)).all()
    assert states == ["approved"]
