"""Benchmark `admissions import` on made-up rows, beside a plain sqlite3 executemany.

Run: .venv/bin/python bench/bench_import.py --rows 100000

Writes the rows as a UTF-8 CSV and as an XLSX file, then in one process times
  1. sqlite3 executemany of the same rows, already in memory, into a plain table
     of text columns with the product's connection settings (the raw rate: no
     parsing, no checks, no indexes);
  2. import_file on the CSV into a fresh database (read, validate, store, audit);
  3. import_file on the XLSX into a fresh database.
With --breakdown it also times the parts on their own: reading each file into
rows, validate_row on every row, insert_many of the validated values into the
real application table (with its indexes and foreign keys, no audit), and a
plain executemany of the same stored rows into that table (SQLite's own share
of storing), one transaction per chunk as in the import.
Wall-clock figures on a shared machine vary with its load, so each run also
reports the process CPU time.
Every name, ID number and mobile it writes is made up.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from console.db import _configure_sqlite as configure_sqlite
from console.db import create_schema, make_engine, session_scope
from console.intake.headers import map_headers
from console.intake.reader import open_table
from console.intake.validate import validate_row
from console.models import Application, Window
from console.rules.idnumber import make_id_number
from console.services.bulk import insert_many
from console.services.intake import DEFAULT_CHUNK_SIZE, _load_context, import_file
from console.services.reference import load_reference
from console.services.seasons import open_window

APPLICATIONS = Application.__table__  # type: ignore[attr-defined]
HEADERS = [
    "学生姓名", "身份证号", "现居住地址", "享受优抚政策情况", "预报名区县", "预报名学校",
    "监护人姓名", "监护人身份证号", "监护人与学生关系", "监护人手机号码", "产权证编号",
    "紧急联系人姓名", "紧急联系人身份证号", "紧急联系人与学生关系", "紧急联系人手机号码",
    "居住证签发日期", "居住证有效日期", "居住证签发机关", "居住证登记现居住地",
    "数据查询授权", "申报时间",
]  # fmt: skip
SCHOOLS = [
    "白银区人民路小学",
    "白银区公园路小学",
    "白银区工农路小学",
    "白银区四龙路小学",
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗"
GIVEN = "子涵欣怡宇航梓萱浩然一诺思远雨桐俊熙可馨"


def make_rows(count: int) -> list[list[str]]:
    """Return `count` valid made-up applications; a tenth are non-local with a permit."""
    rows = []
    for index in range(count):
        birth = date(2018, 9, 1) + timedelta(days=index % 364)
        sequence = index // 364 % 1000
        name = SURNAMES[index % 20] + GIVEN[index % 16] + GIVEN[(index // 16) % 16]
        permit = index % 10 == 0
        rows.append([
            name,
            make_id_number("620402", birth, sequence),
            f"白银区人民路街道铜城社区{index % 60 + 1}号楼{index % 6 + 1}单元",
            "无",
            "白银区",
            SCHOOLS[index % 4],
            SURNAMES[index % 20] + "测父",
            make_id_number("620402", date(1985, 1, 1) + timedelta(days=index % 3000), sequence),
            "父亲",
            f"138{index:08d}",
            "" if permit else f"甘(2019)白银市不动产权第{index:07d}号",
            "赵测母",
            make_id_number("620402", date(1960, 1, 1) + timedelta(days=index % 3000), sequence),
            "祖母",
            f"139{index:08d}",
            "2023-03-15" if permit else "",
            "2026-03-14" if permit else "",
            "白银市公安局白银分局" if permit else "",
            "白银区人民路街道铜城社区1号楼" if permit else "",
            "是",
            f"2025-07-01 {8 + index % 10:02d}:{index % 60:02d}:{index % 59:02d}",
        ])  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        writer.writerows(rows)


def write_xlsx(path: Path, rows: list[list[str]]) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("报名")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    workbook.save(path)


class Timer:
    """Wall-clock and process CPU seconds of a `with` block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def time_raw_executemany(path: Path, rows: list[list[str]]) -> Timer:
    """Insert the rows as they are into a table of text columns.

    The connection gets the same settings as the product's (WAL, synchronous
    NORMAL, foreign keys, busy timeout) and the rows go in one transaction.
    """
    connection = sqlite3.connect(path)
    configure_sqlite(connection, None)
    columns = ", ".join(f"c{i} TEXT" for i in range(len(HEADERS)))
    connection.execute(f"CREATE TABLE raw (id INTEGER PRIMARY KEY, {columns})")
    marks = ", ".join("?" for _ in HEADERS)
    names = ", ".join(f"c{i}" for i in range(len(HEADERS)))
    with Timer() as timer:
        connection.execute("BEGIN")
        connection.executemany(f"INSERT INTO raw ({names}) VALUES ({marks})", rows)
        connection.execute("COMMIT")
    connection.close()
    return timer


def fresh_season(directory: Path, name: str) -> tuple[Engine, Window]:
    engine = make_engine(f"sqlite:///{directory / name}")
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        window = open_window(session, year=2025, county_code="620402", actor="bench")
    return engine, window


def time_import(directory: Path, name: str, source: Path) -> tuple[Timer, int, int]:
    """Import `source` into a fresh database; return the timer, stored and rejected."""
    engine, _ = fresh_season(directory, name)
    with Timer() as timer:
        outcome = import_file(engine, source, actor="bench")
    engine.dispose()
    return timer, outcome.report.stored, outcome.report.rejected


def time_breakdown(
    directory: Path, rows: list[list[str]], sources: list[Path]
) -> list[tuple[str, Timer]]:
    """Time the parts of an import on their own: reading, validation, storing."""
    parts = []
    for source in sources:
        with Timer() as reading:
            for _ in open_table(source).rows():
                pass
        parts.append((f"read {source.suffix[1:].upper()} only", reading))

    engine, window = fresh_season(directory, "breakdown.db")
    mapping = map_headers(HEADERS)
    with session_scope(engine) as session:
        context = _load_context(session, window, date(2025, 7, 1))
    mapped = [mapping.to_row(row) for row in rows]
    with Timer() as validating:
        values = [
            validate_row(row, number, context)[0] for number, row in enumerate(mapped)
        ]
    parts.append(("validate_row only", validating))

    now = datetime.now(UTC)
    constants = {"season_id": window.season_id, "source": "bench",
                 "created_at": now, "updated_at": now}  # fmt: skip
    for value in values:
        value["intake_hash"] = ""
    with Timer() as storing:
        for start in range(0, len(values), DEFAULT_CHUNK_SIZE):
            chunk = values[start : start + DEFAULT_CHUNK_SIZE]
            with session_scope(engine) as session:  # one transaction per chunk
                insert_many(session, APPLICATIONS, chunk, constants=constants)
    parts.append(("insert_many into application", storing))
    engine.dispose()
    parts.append(("executemany into application", time_table_floor(directory)))
    parts.append(
        ("same, without its indexes", time_table_floor(directory, indexes=False))
    )
    return parts


def time_table_floor(directory: Path, *, indexes: bool = True) -> Timer:
    """Time SQLite's own work of storing the rows in the product's table.

    The rows stored by the insert_many part are read back as tuples. They go
    with a plain executemany into the application table of a fresh database,
    one transaction per chunk as in the import. So the time counts the table's
    columns, indexes and foreign keys, and no Python processing. Without `indexes` the
    table's secondary indexes are dropped first, to show what they cost.
    """
    source = sqlite3.connect(directory / "breakdown.db")
    names = [row[1] for row in source.execute("PRAGMA table_info(application)")]
    names.remove("id")
    stored = source.execute(f"SELECT {', '.join(names)} FROM application").fetchall()
    source.close()
    name = "floor.db" if indexes else "floor-without-indexes.db"
    engine, _ = fresh_season(directory, name)
    engine.dispose()
    connection = sqlite3.connect(directory / name, isolation_level=None)
    configure_sqlite(connection, None)
    if not indexes:
        for (index,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'application' AND sql IS NOT NULL"
        ).fetchall():
            connection.execute(f"DROP INDEX {index}")
    statement = (
        f"INSERT INTO application ({', '.join(names)}) "
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    with Timer() as timer:
        for start in range(0, len(stored), DEFAULT_CHUNK_SIZE):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                statement, stored[start : start + DEFAULT_CHUNK_SIZE]
            )
            connection.execute("COMMIT")
    connection.close()
    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="number of rows")
    parser.add_argument("--skip-xlsx", action="store_true", help="time CSV only")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time validation and the bare insert")  # fmt: skip
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        rows = make_rows(args.rows)
        csv_path, xlsx_path = directory / "rows.csv", directory / "rows.xlsx"
        write_csv(csv_path, rows)
        if not args.skip_xlsx:
            write_xlsx(xlsx_path, rows)

        raw = time_raw_executemany(directory / "raw.db", rows)
        results = [("sqlite3 executemany (raw)", raw, args.rows)]
        timer, stored, _ = time_import(directory, "csv.db", csv_path)
        results.append(("import CSV", timer, stored))
        if not args.skip_xlsx:
            timer, stored, _ = time_import(directory, "xlsx.db", xlsx_path)
            results.append(("import XLSX", timer, stored))
        if args.breakdown:
            sources = [csv_path] if args.skip_xlsx else [csv_path, xlsx_path]
            for label, timer in time_breakdown(directory, rows, sources):
                results.append((label, timer, args.rows))

    print(f"{args.rows} rows; Python {sys.version.split()[0]}; SQLite "
          f"{sqlite3.sqlite_version}; {platform.platform()}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'run':30} {'wall s':>7} {'rows/s':>8} {'of raw':>7} {'CPU s':>7} "
          f"{'rows/CPU s':>10} {'of raw':>7} {'stored':>7}")  # fmt: skip
    for label, timer, stored in results:
        print(
            f"{label:30} {timer.wall:7.2f} {args.rows / timer.wall:8.0f} "
            f"{raw.wall / timer.wall:7.1%} {timer.cpu:7.2f} "
            f"{args.rows / max(timer.cpu, 1e-9):10.0f} "
            f"{raw.cpu / max(timer.cpu, 1e-9):7.1%} {stored:7d}"
        )


if __name__ == "__main__":
    main()
