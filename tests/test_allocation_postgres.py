"""Allocation runs on the PostgreSQL server at 127.0.0.1:5432, in a schema of their own.

Every name and ID number here is made up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from console.db import create_schema, make_engine, session_scope
from console.models import AllocationRun, Application, Placement, Status
from console.services.allocation import run_allocation, verify_run
from console.services.reference import load_reference
from console.services.seasons import open_window
from tests.test_allocation_service import COUNTY, SCHOOL, add_children

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture()
def engine() -> Iterator[Engine]:
    schema = f"allocation_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as error:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {error}")
    engine = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code=COUNTY, actor="tester")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
