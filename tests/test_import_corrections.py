"""Corrections of rows that carry the platform's submission id. All data is made up."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlmodel import Session, select

from console.db import create_schema, make_engine
from console.models import Application
from console.services.intake import import_file
from console.services.reference import load_reference
from console.services.seasons import open_window

SAMPLE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "sample-applications-2025.csv"
)


def write_with_ids(path: Path, *, mobile_of_first: str | None = None) -> None:
    """Write the sample's eight good rows with a 平台申报编号 column."""
    with SAMPLE.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, good = rows[0], rows[1:9]
    mobile = header.index("监护人手机号码")
    if mobile_of_first:
        good[0][mobile] = mobile_of_first
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*header, "平台申报编号"])
        for number, row in enumerate(good, start=1):
            writer.writerow([*row, f"REF-{number:04d}"])


def test_corrected_row_with_submission_id_updates(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'season.db'}")
    create_schema(engine)
    with Session(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code="620402", actor="tester")
        session.commit()
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    write_with_ids(first)
    write_with_ids(second, mobile_of_first="13912345678")

    stored = import_file(engine, first, actor="tester").report
    assert stored.stored == 8
    again = import_file(engine, first, actor="tester").report
    assert again.unchanged == 8
    corrected = import_file(engine, second, actor="tester").report
    assert corrected.updated == 1
    assert corrected.unchanged == 7
    with Session(engine) as session:
        mobiles = session.exec(
            select(Application.guardian_mobile).where(
                Application.external_ref == "REF-0001"
            )
        ).all()
    assert mobiles == ["13912345678"]


def test_submission_id_of_another_child_is_rejected(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'season.db'}")
    create_schema(engine)
    with Session(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code="620402", actor="tester")
        session.commit()
    first = tmp_path / "first.csv"
    write_with_ids(first)
    import_file(engine, first, actor="tester")
    with first.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    rows[2][-1] = "REF-0001"  # the second child under the first child's number
    swapped = tmp_path / "swapped.csv"
    with swapped.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    report = import_file(engine, swapped, actor="tester").report
    assert report.rejected == 1
    assert "REF-0001" in report.errors[0].message
