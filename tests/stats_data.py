"""A small made-up season written straight into the tables, shared by the stats tests.

Every name, ID number and mobile below is invented.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from console.db import create_schema, make_engine, session_scope
from console.models import (
    AllocationRun,
    Application,
    Lookup,
    Notice,
    Placement,
    Stage,
    Status,
)
from console.rules.idnumber import make_id_number
from console.services.reference import load_reference
from console.services.seasons import open_window

YEAR = 2025
COUNTY = "620402"
OTHER_COUNTY = "620403"
SCHOOL_1 = "620402P01"
SCHOOL_2 = "620402P02"
SUBMITTED = datetime(2025, 7, 2, 1, 30, tzinfo=UTC)


def _application(
    season_id: int, county: str, index: int, **fields: object
) -> Application:
    birth = date(2019, 3, 1) + timedelta(days=index)
    values: dict[str, object] = {
        "season_id": season_id,
        "county_code": county,
        "stage": Stage.PRIMARY,
        "student_name": f"测试儿童{index}",
        "student_id_number": make_id_number(county, birth, index),
        "gender": "男" if index % 2 else "女",
        "birth_date": birth,
        "address": "白银区人民路街道铜城社区1号楼",
        "guardian_name": f"测试家长{index}",
        "guardian_id_number": make_id_number(county, date(1990, 1, 1), index),
        "guardian_relation": "父亲",
        "guardian_mobile": f"1390000{index:04d}",
        "emergency_name": f"测试联系人{index}",
        "emergency_id_number": make_id_number(county, date(1965, 1, 1), index),
        "emergency_relation": "祖父",
        "emergency_mobile": f"1370000{index:04d}",
        "consent": True,
        "submitted_at": SUBMITTED,
    }
    values.update(fields)
    return Application(**values)  # type: ignore[arg-type]


def fill_season(target: Path | Engine) -> Engine:
    """Create the schema at `target` and write one season with known figures.

    County 620402: 6 applications (A placed at P01 x2, D placed at P02, E unplaced,
    one withdrawn after placement at P01, one submitted and unclassified); one
    approved run. County 620403: 1 submitted application and no run.
    """
    if isinstance(target, Path):
        engine = make_engine(f"sqlite:///{target}")
    else:
        engine = target
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        window = open_window(session, year=YEAR, county_code=COUNTY, actor="tester")
        open_window(session, year=YEAR, county_code=OTHER_COUNTY, actor="tester")
        season_id = window.season_id

        rows = [
            _application(
                season_id,
                COUNTY,
                1,
                status=Status.PLACED,
                batch="A",
                preferred_school_code=SCHOOL_1,
                zone_school_code=SCHOOL_1,
            ),
            _application(
                season_id,
                COUNTY,
                2,
                status=Status.PLACED,
                batch="A",
                preferred_school_code=SCHOOL_1,
                zone_school_code=SCHOOL_1,
            ),
            _application(
                season_id,
                COUNTY,
                3,
                status=Status.PLACED,
                batch="D",
                preferred_school_code=SCHOOL_1,
                zone_school_code=SCHOOL_2,
            ),
            _application(
                season_id,
                COUNTY,
                4,
                status=Status.UNPLACED,
                batch="E",
                zone_school_code=SCHOOL_2,
            ),
            _application(
                season_id,
                COUNTY,
                5,
                status=Status.WITHDRAWN,
                batch="A",
                preferred_school_code=SCHOOL_1,
                zone_school_code=SCHOOL_1,
            ),
            _application(season_id, COUNTY, 6),
            _application(season_id, OTHER_COUNTY, 7),
        ]
        session.add_all(rows)
        session.flush()
        app = {row.student_name[-1]: row for row in rows}

        old_run = AllocationRun(
            season_id=season_id,
            county_code=COUNTY,
            stage=Stage.PRIMARY,
            state="superseded",
        )
        run = AllocationRun(
            season_id=season_id,
            county_code=COUNTY,
            stage=Stage.PRIMARY,
            state="approved",
        )
        # A run still being stored has incomplete placements and must not count.
        running = AllocationRun(
            season_id=season_id,
            county_code=COUNTY,
            stage=Stage.PRIMARY,
            state="running",
        )
        session.add_all([old_run, run, running])
        session.flush()
        assert run.id is not None and old_run.id is not None
        assert running.id is not None

        def place(run_id: int, key: str, school: str | None, batch: str) -> Placement:
            application_id = app[key].id
            assert application_id is not None
            return Placement(
                run_id=run_id,
                application_id=application_id,
                school_code=school,
                phase="zone" if school else "unplaced",
                batch=batch,
                rank_in_batch=1,
                priority_key="k",
                explanation="测试",
            )

        session.add_all(
            [
                place(run.id, "1", SCHOOL_1, "A"),
                place(run.id, "2", SCHOOL_1, "A"),
                place(run.id, "3", SCHOOL_2, "D"),
                place(run.id, "4", None, "E"),
                place(run.id, "5", SCHOOL_1, "A"),  # withdrawn since: holds no seat
                place(old_run.id, "1", SCHOOL_2, "A"),  # superseded: not counted
                place(running.id, "2", SCHOOL_2, "A"),  # still running: not counted
            ]
        )

        def lookup(key: str, interface: str, outcome: str, ms: int) -> Lookup:
            application_id = app[key].id
            assert application_id is not None
            return Lookup(
                application_id=application_id,
                interface=interface,
                subject_id_number=app[key].student_id_number,
                purpose="入学资格核验",
                operator="tester",
                duration_ms=ms,
                outcome=outcome,
            )

        session.add_all(
            [
                lookup("1", "household", "found", 100),
                lookup(
                    "1", "household", "found", 300
                ),  # repeated call: one copy avoided
                lookup("2", "household", "found", 200),
                lookup("3", "household", "not_found", 200),
                lookup("4", "household", "failed", 1000),
                lookup("1", "real_estate", "found", 400),
                lookup("7", "household", "found", 50),  # other county
            ]
        )

        def notice(key: str, state: str, hours: float | None) -> Notice:
            application_id = app[key].id
            assert application_id is not None
            sent = SUBMITTED + timedelta(hours=hours) if hours is not None else None
            return Notice(
                application_id=application_id,
                dedup_key=f"result:{key}",
                kind="result",
                mobile=app[key].guardian_mobile,
                text="录取结果",
                state=state,
                attempts=1,
                sent_at=sent,
            )

        session.add_all(
            [
                notice("1", "delivered", 48),
                notice("2", "sent", 72),
                notice("3", "delivered", 96),
                notice("4", "failed", None),
            ]
        )
    return engine
