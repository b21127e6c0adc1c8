"""Intake on the PostgreSQL server at 127.0.0.1:5432, in a schema of its own.

Every name, ID number and mobile here is made up.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from console.db import create_schema, make_engine, session_scope
from console.models import Application, AuditEvent, Window
from console.services.intake import import_rows
from console.services.reference import load_reference
from console.services.seasons import open_window
from tests.postgres import postgres_schema
from tests.test_import_files import make_row


@pytest.fixture()
def engine() -> Iterator[Engine]:
    with postgres_schema("intake") as engine:
        create_schema(engine)
        with session_scope(engine) as session:
            load_reference(session)
            open_window(session, year=2025, county_code="620402", actor="tester")
        yield engine


@pytest.fixture()
def window(engine: Engine) -> Window:
    with session_scope(engine) as session:
        return session.scalars(select(Window)).one()


def count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Application)) or 0


@pytest.mark.postgres
def test_postgres_import_and_reimport(engine: Engine, window: Window) -> None:
    rows = [make_row(i) for i in range(120)]
    rows[7]["guardian_mobile"] = "123"
    first = import_rows(engine, rows, window=window, source="import", actor="t",
                        chunk_size=50)  # fmt: skip
    again = import_rows(engine, rows, window=window, source="import", actor="t")
    assert (first.stored, first.rejected) == (119, 1)
    assert (again.stored, again.unchanged, again.rejected) == (0, 119, 1)
    assert count(engine) == 119
    with session_scope(engine) as session:
        students = dict(session.execute(
            select(Application.id, Application.student_id_number)).all())  # fmt: skip
        events = session.execute(select(AuditEvent.entity_id, AuditEvent.detail).where(
            AuditEvent.action == "application.create")).all()  # fmt: skip
    # Each application's audit event names it and the row it came from.
    assert len(events) == 119
    for entity_id, detail in events:
        assert students[int(entity_id)] == rows[detail["row"] - 1]["student_id_number"]


@pytest.mark.postgres
def test_postgres_one_live_application_per_child(
    engine: Engine, window: Window
) -> None:
    import_rows(engine, [make_row(1)], window=window, source="import", actor="t")
    with session_scope(engine) as session:
        stored = session.scalars(select(Application)).one()
        duplicate = Application(**stored.model_dump(exclude={"id"}))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(duplicate)


@pytest.mark.postgres
def test_postgres_chunk_conflicting_twice_retried(
    engine: Engine, window: Window
) -> None:
    """Another import storing children of this chunk before each attempt costs no row."""
    url = engine.url.render_as_string(hide_password=False)
    other = make_engine(url)
    rows = [make_row(i) for i in range(10)]
    competing = iter([rows[3], rows[6], rows[8]])
    attempts = 0

    def store_one_child_first(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        # Each attempt to insert the chunk finds one more of its children stored
        # and committed by the other import.
        nonlocal attempts
        if statement.startswith("INSERT INTO application"):
            attempts += 1
            row = next(competing, None)
            if row is not None:
                import_rows(other, [row], window=window, source="import", actor="other")

    event.listen(engine, "before_cursor_execute", store_one_child_first)
    try:
        report = import_rows(engine, rows, window=window, source="import", actor="t")
    finally:
        event.remove(engine, "before_cursor_execute", store_one_child_first)
        other.dispose()

    assert attempts == 4
    assert (report.stored, report.unchanged, report.rejected) == (7, 3, 0)
    assert count(engine) == 10
