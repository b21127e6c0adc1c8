"""Time `season_stats` on a large made-up season, next to a naive reference read.

The reference loads every Application row as an ORM object and counts status and
batch in Python, which is what a screen would do without grouped queries. Both run in
the same process on the same database, so their ratio does not depend on the machine.

Usage: .venv/bin/python bench/bench_stats.py --applications 50000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, select

from console.db import create_schema, make_engine, session_scope
from console.models import (
    AllocationRun,
    Application,
    Lookup,
    Notice,
    Placement,
    School,
    Season,
    Stage,
    Status,
)
from console.rules.idnumber import make_id_number
from console.services.reference import load_reference
from console.services.seasons import open_window
from console.services.stats import INTERFACES, render_tables, season_stats

COUNTIES = ("620402", "620403", "620421", "620422", "620423")
OUTCOMES = ("found", "found", "found", "not_found", "failed")
STATUSES = (
    Status.PLACED,
    Status.PLACED,
    Status.UNPLACED,
    Status.EXCEPTION,
    Status.WITHDRAWN,
)
SUBMITTED = datetime(2025, 7, 1, 1, 0, tzinfo=UTC)


def build_database(path: Path, applications: int, seed: int) -> None:
    """Write one season with `applications` rows, 3 lookups and 1 notice per row."""
    rng = random.Random(seed)
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        season_id = 0
        for county in COUNTIES:
            season_id = open_window(
                session, year=2025, county_code=county, actor="bench"
            ).season_id
        schools = {
            county: [
                school.code
                for school in session.exec(
                    select(School).where(
                        School.county_code == county, School.stage == Stage.PRIMARY
                    )
                )
            ]
            for county in COUNTIES
        }
        runs = {}
        for county in COUNTIES:
            run = AllocationRun(
                season_id=season_id, county_code=county, stage=Stage.PRIMARY
            )
            session.add(run)
            session.flush()
            runs[county] = run.id

        rows = []
        for index in range(applications):
            county = COUNTIES[index % len(COUNTIES)]
            birth = date(2018, 9, 1) + timedelta(days=index % 365)
            sequence = (index // 365) % 1000
            rows.append(
                {
                    "id": index + 1,
                    "season_id": season_id,
                    "county_code": county,
                    "stage": Stage.PRIMARY,
                    "student_name": f"测试{index}",
                    "student_id_number": make_id_number(county, birth, sequence),
                    "gender": "男",
                    "birth_date": birth,
                    "address": "测试地址",
                    "preferred_school_code": rng.choice(schools[county]),
                    "zone_school_code": rng.choice(schools[county]),
                    "guardian_name": "测试家长",
                    "guardian_id_number": make_id_number(county, date(1990, 1, 1), 1),
                    "guardian_relation": "父亲",
                    "guardian_mobile": "13900000000",
                    "emergency_name": "测试联系人",
                    "emergency_id_number": make_id_number(county, date(1960, 1, 1), 1),
                    "emergency_relation": "祖父",
                    "emergency_mobile": "13700000000",
                    "consent": True,
                    "submitted_at": SUBMITTED + timedelta(minutes=index % 10_000),
                    "status": rng.choice(STATUSES),
                    "batch": rng.choice("ABCDE"),
                }
            )
        session.execute(insert(Application), rows)

        lookups, notices, placements = [], [], []
        for row in rows:
            for interface in INTERFACES[:3]:
                lookups.append(
                    {
                        "application_id": row["id"],
                        "interface": interface,
                        "subject_id_number": row["student_id_number"],
                        "purpose": "bench",
                        "operator": "bench",
                        "duration_ms": rng.randint(20, 900),
                        "outcome": rng.choice(OUTCOMES),
                    }
                )
            notices.append(
                {
                    "application_id": row["id"],
                    "dedup_key": f"result:{row['id']}",
                    "kind": "result",
                    "mobile": row["guardian_mobile"],
                    "text": "bench",
                    "state": "delivered",
                    "sent_at": row["submitted_at"]
                    + timedelta(hours=rng.randint(24, 400)),
                }
            )
            placed = row["status"] == Status.PLACED
            placements.append(
                {
                    "run_id": runs[row["county_code"]],
                    "application_id": row["id"],
                    "school_code": row["zone_school_code"] if placed else None,
                    "phase": "zone" if placed else "unplaced",
                    "batch": row["batch"],
                    "rank_in_batch": 1,
                    "priority_key": "bench",
                    "explanation": "bench",
                }
            )
        session.execute(insert(Lookup), lookups)
        session.execute(insert(Notice), notices)
        session.execute(insert(Placement), placements)
    engine.dispose()


def naive_status_by_batch(session: Session) -> Counter[tuple[str, str | None]]:
    """Reference: load every application as an object and count in Python."""
    season = session.exec(select(Season)).one()
    applications = session.exec(
        select(Application).where(Application.season_id == season.id)
    ).all()
    return Counter(
        (application.status, application.batch) for application in applications
    )


def measure(label: str, action: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Report the peak memory of one traced run, then the median of `repeats` runs.

    The traced run also warms the SQLite page cache. It is not timed because
    tracemalloc slows the code it traces.
    """
    tracemalloc.start()
    action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return {
        "step": label,
        "median_s": round(statistics.median(seconds), 4),
        "peak_mib": round(peak / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "bench.db"
        started = time.perf_counter()
        build_database(path, args.applications, args.seed)
        build_seconds = time.perf_counter() - started
        engine = make_engine(f"sqlite:///{path}")

        def all_counties() -> None:
            with session_scope(engine) as session:
                season_stats(session)

        def one_county() -> None:
            with session_scope(engine) as session:
                season_stats(session, county_code="620402", stage=Stage.PRIMARY)

        def tables_and_json() -> None:
            with session_scope(engine) as session:
                stats = season_stats(session)
            render_tables(stats)
            json.dumps(stats.to_dict(), ensure_ascii=False)

        def reference() -> None:
            with session_scope(engine) as session:
                naive_status_by_batch(session)

        results = [
            measure("season_stats, all counties", all_counties, args.repeats),
            measure("season_stats, one county", one_county, args.repeats),
            measure(
                "season_stats + render_tables + JSON", tables_and_json, args.repeats
            ),
            measure("reference: ORM load + Python count", reference, args.repeats),
        ]
        engine.dispose()

    print(
        f"applications={args.applications} lookups={3 * args.applications} "
        f"notices={args.applications} build_s={build_seconds:.1f}"
    )
    print("| step | median s | peak MiB |")
    print("| --- | ---: | ---: |")
    for result in results:
        print(f"| {result['step']} | {result['median_s']} | {result['peak_mib']} |")


if __name__ == "__main__":
    main()
