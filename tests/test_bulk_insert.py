"""insert_many against a real SQLite file: the same rows as a Core executemany.

Every name, ID number and mobile here is made up.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

from console.db import create_schema, make_engine, session_scope
from console.models import Application, AuditEvent, Status
from console.rules.idnumber import make_id_number
from console.services.bulk import insert_many
from console.services.reference import load_reference
from console.services.seasons import open_window

APPLICATIONS = Application.__table__  # type: ignore[attr-defined]
AUDIT_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
NOW = datetime(2025, 7, 1, 0, 30, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code="620402", actor="test")
    yield engine
    engine.dispose()


def _application(index: int, *, permit: bool) -> dict[str, Any]:
    """Return the values the intake stores for one made-up child."""
    student = make_id_number("620402", date(2018, 9, 1 + index), index)
    return {
        "county_code": "620402",
        "stage": "primary",
        "student_name": f"测试{index}号",
        "student_id_number": student,
        "gender": "女" if index % 2 == 0 else "男",
        "birth_date": date(2018, 9, 1 + index),
        "address": "白银区人民路街道铜城社区1号楼",
        "preferential_policy": "无",
        "preferred_school_code": "620402P01",
        "guardian_name": "王测父",
        "guardian_id_number": make_id_number("620402", date(1986, 3, 12), index),
        "guardian_relation": "父亲",
        "guardian_mobile": f"138{index:08d}",
        "emergency_name": "赵测母",
        "emergency_id_number": make_id_number("620402", date(1960, 1, 1), index),
        "emergency_relation": "祖母",
        "emergency_mobile": f"139{index:08d}",
        "permit_issued_on": date(2023, 3, 15) if permit else None,
        "permit_expires_on": date(2026, 3, 14) if permit else None,
        "consent": index % 2 == 0,
        "status": Status.SUBMITTED,
        "submitted_at": datetime(2025, 7, 1, 8, index, tzinfo=UTC),
        "intake_hash": f"hash{index}",
    }


def _stored(engine: Engine) -> list[dict[str, Any]]:
    """Return every application as a dict of its columns, without the id."""
    with session_scope(engine) as session:
        rows = session.execute(select(APPLICATIONS).order_by(APPLICATIONS.c.id))
        return [
            {key: value for key, value in row._mapping.items() if key != "id"}
            for row in rows
        ]


def _insert_both_ways(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Store `rows` for two seasons: 2025 by insert_many, 2026 by Core."""
    constants = {"season_id": 1, "source": "import", "created_at": NOW,
                 "updated_at": NOW}  # fmt: skip
    with session_scope(engine) as session:
        insert_many(session, APPLICATIONS, rows, constants=constants)
    with session_scope(engine) as session:
        season_2026 = open_window(
            session, year=2026, county_code="620402", actor="test"
        ).season_id
        core_rows = [{**row, **constants, "season_id": season_2026} for row in rows]
        session.execute(insert(APPLICATIONS), core_rows)


def test_bulk_insert_matches_core(engine: Engine) -> None:
    rows = [_application(index, permit=index % 3 == 0) for index in range(6)]
    _insert_both_ways(engine, rows)

    stored = _stored(engine)
    assert len(stored) == 12
    for bulk, core in zip(stored[:6], stored[6:], strict=True):
        core["season_id"] = bulk["season_id"]
        assert bulk == core


def test_bulk_insert_fills_column_defaults(engine: Engine) -> None:
    _insert_both_ways(engine, [_application(1, permit=False)])

    bulk = _stored(engine)[0]
    assert bulk["batch_reason"] == ""
    assert bulk["flags"] == ""
    assert bulk["status_reason"] == ""
    assert bulk["permit_issued_on"] is None
    assert bulk["submitted_at"] == datetime(2025, 7, 1, 8, 1, tzinfo=UTC)


def test_bulk_insert_rows_of_differing_keys(engine: Engine) -> None:
    first = _application(1, permit=False)
    second = _application(2, permit=False)
    del second["intake_hash"]
    # Core rejects a row without a key of the first row, and so does insert_many.
    with pytest.raises(StatementError, match="intake_hash"):
        with session_scope(engine) as session:
            insert_many(session, APPLICATIONS, [first, second], constants={
                "season_id": 1, "source": "import", "created_at": NOW,
                "updated_at": NOW,
            })  # fmt: skip

    assert _stored(engine) == []


def test_bulk_insert_json_and_constants(engine: Engine) -> None:
    events = [
        {"action": "application.create", "entity_id": str(index),
         "detail": {"import": "abc", "row": index + 2}}
        for index in range(3)
    ]  # fmt: skip
    with session_scope(engine) as session:
        insert_many(session, AUDIT_EVENTS, events, constants={
            "at": NOW, "actor": "县教育局", "entity": "application",
        })  # fmt: skip

    with session_scope(engine) as session:
        stored = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    assert [event.detail for event in stored][-3:] == [
        {"import": "abc", "row": 2},
        {"import": "abc", "row": 3},
        {"import": "abc", "row": 4},
    ]
    assert {event.actor for event in stored[-3:]} == {"县教育局"}
    assert {event.at for event in stored[-3:]} == {NOW}


def test_bulk_insert_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        insert_many(session, APPLICATIONS, [])
    assert _stored(engine) == []


def test_bulk_insert_constants_with_quotes_and_markers(engine: Engine) -> None:
    """Constants go into the statement as literals; quotes and markers stay text."""
    actor = "O'Brien 100% ? :name %s 教育局"
    with session_scope(engine) as session:
        insert_many(session, AUDIT_EVENTS, [{"action": "a", "entity_id": "1",
                                             "detail": {"note": "'?%"}}],
                    constants={"at": NOW, "actor": actor, "entity": "x'; --"})  # fmt: skip

    with session_scope(engine) as session:
        event = session.scalars(
            select(AuditEvent).order_by(AuditEvent.id.desc())
        ).first()  # type: ignore[union-attr]
    assert event is not None
    assert (event.actor, event.entity, event.detail) == (
        actor,
        "x'; --",
        {"note": "'?%"},
    )


def test_bulk_insert_constant_with_nul(engine: Engine) -> None:
    """SQLite takes a NUL in a bound value but not in the statement text."""
    actor = "tester\x00b"
    with session_scope(engine) as session:
        insert_many(session, AUDIT_EVENTS, [{"action": "a", "entity_id": "1"}],
                    constants={"at": NOW, "actor": actor, "entity": "x"})  # fmt: skip

    with session_scope(engine) as session:
        stored = session.scalars(
            select(AuditEvent.actor).order_by(AuditEvent.id.desc())  # type: ignore[union-attr]
        ).first()
    assert stored == actor
