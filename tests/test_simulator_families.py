"""Simulated families: valid numbers, realistic mix, seeded output and planted errors."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session

from console.db import create_schema, make_engine
from console.rules.idnumber import InvalidIdNumber, age_on, parse_id_number
from console.rules.mobile import normalize_mobile
from console.services.reference import ZoneIndex, load_reference
from simulator.families import (
    MISMATCH_KINDS,
    ROW_FIELDS,
    Geography,
    Simulation,
    generate_families,
    write_registry,
    write_rows_csv,
)

COUNTY = "620402"
CUTOFF = date(2025, 8, 31)


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return generate_families(county_code=COUNTY, count=2000, seed=7, year=2025)


@pytest.fixture(scope="module")
def clean() -> Simulation:
    return generate_families(
        county_code=COUNTY,
        count=600,
        seed=3,
        year=2025,
        mismatch_rate=0,
        mistake_rate=0,
    )


@pytest.fixture(scope="module")
def zone_index(tmp_path_factory: pytest.TempPathFactory) -> ZoneIndex:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('zones') / 'ref.db'}")
    create_schema(engine)
    with Session(engine) as session:
        load_reference(session)
        session.commit()
        return ZoneIndex.load(session)


def test_clean_rows_have_valid_numbers(clean: Simulation) -> None:
    for row in clean.rows:
        for key in ("student_id_number", "guardian_id_number", "emergency_id_number"):
            parse_id_number(row[key])
        assert normalize_mobile(row["guardian_mobile"]) == row["guardian_mobile"]
        assert normalize_mobile(row["emergency_mobile"]) == row["emergency_mobile"]


def test_registry_numbers_valid_and_gendered(clean: Simulation) -> None:
    for id_number, record in clean.household.items():
        parsed = parse_id_number(id_number)
        assert record["id_number"] == id_number
        assert record["gender"] == parsed.gender
        assert record["birth_date"] == parsed.birth_date.isoformat()


def test_children_are_six_on_cutoff(clean: Simulation) -> None:
    for child in clean.children:
        birth = parse_id_number(child.student_id_number).birth_date
        assert age_on(birth, CUTOFF) == 6, child.student_id_number


def test_junior_children_are_twelve(tmp_path: Path) -> None:
    junior = generate_families(
        county_code=COUNTY, count=300, seed=5, year=2025, stage="junior",
        mismatch_rate=0, mistake_rate=0,
    )  # fmt: skip
    geography = Geography.load()
    codes = {s.code: s for s in geography.schools}
    rows = {row["submission_id"]: row for row in junior.rows}
    outside = 0
    for child in junior.children:
        row = rows[child.submission_ids[0]]
        birth = parse_id_number(child.student_id_number).birth_date
        assert age_on(birth, CUTOFF) == 12
        assert codes[child.zone_school_code].stage == "junior"
        primary = codes[row["primary_school"]]
        assert primary.stage == "primary"
        outside += primary.county_code != COUNTY
    assert 0 < outside < len(junior.rows) // 5


def test_guardians_born_1975_to_1995(clean: Simulation) -> None:
    years = {int(row["guardian_id_number"][6:10]) for row in clean.rows}
    assert min(years) >= 1975
    assert max(years) <= 1995


def test_minority_names_with_middle_dot(simulation: Simulation) -> None:
    dotted = [c.student_name for c in simulation.children if "·" in c.student_name]
    assert dotted
    assert all(len(part) >= 2 for name in dotted for part in name.split("·"))


def test_category_proportions(simulation: Simulation) -> None:
    shares = Counter(child.category for child in simulation.children)
    total = len(simulation.children)
    expected = {"A": 0.45, "D": 0.30, "B": 0.10, "E": 0.12, "C": 0.03}
    for category, share in expected.items():
        assert abs(shares[category] / total - share) < 0.04, (category, shares)


def test_same_seed_same_output() -> None:
    first = generate_families(county_code=COUNTY, count=200, seed=42, year=2025)
    second = generate_families(county_code=COUNTY, count=200, seed=42, year=2025)
    other = generate_families(county_code=COUNTY, count=200, seed=43, year=2025)
    assert first.registry() == second.registry()
    assert first.rows != other.rows


def test_mismatches_at_requested_rate() -> None:
    sim = generate_families(
        county_code=COUNTY,
        count=1000,
        seed=9,
        year=2025,
        mismatch_rate=0.2,
        mistake_rate=0,
    )
    families = {
        min([c.student_id_number, *c.sibling_id_numbers])
        for c in sim.children
        if c.mismatch
    }
    assert len(families) == round(0.2 * sim.family_count)
    kinds = Counter(c.mismatch for c in sim.children if c.mismatch)
    assert set(kinds) == set(MISMATCH_KINDS)


def test_mismatches_visible_in_registry() -> None:
    sim = generate_families(
        county_code=COUNTY,
        count=1000,
        seed=9,
        year=2025,
        mismatch_rate=0.2,
        mistake_rate=0,
    )
    rows = {row["student_id_number"]: row for row in sim.rows}
    for child in sim.children:
        row = rows[child.student_id_number]
        guardian = row["guardian_id_number"]
        if child.mismatch == "name_differs":
            assert sim.household[child.student_id_number]["name"] != row["student_name"]
        elif child.mismatch == "household_missing":
            assert child.student_id_number not in sim.household
        elif child.mismatch == "property_other_owner":
            assert guardian not in sim.real_estate
            owners = [
                record["owner_id_number"]
                for records in sim.real_estate.values()
                for record in records
                if record["certificate_no"] == row["property_certificate_no"]
            ]
            assert owners
            assert guardian not in owners
        elif child.mismatch == "permit_expired":
            registered = date.fromisoformat(sim.permit[guardian]["expires_on"])
            assert registered < sim.as_of
            assert date.fromisoformat(row["permit_expires_on"]) > sim.as_of
        elif child.mismatch == "insurance_short":
            assert sim.insurance[guardian]["months_last_24"] < 6


def test_clean_records_support_category(clean: Simulation) -> None:
    rows = {row["student_id_number"]: row for row in clean.rows}
    for child in clean.children:
        row = rows[child.student_id_number]
        guardian = row["guardian_id_number"]
        household = clean.household[child.student_id_number]
        local = household["registered_division_code"].startswith(COUNTY)
        in_county = [
            record
            for record in clean.real_estate.get(guardian, [])
            if record["division_code"].startswith(COUNTY)
        ]
        assert household["name"] == row["student_name"]
        if child.base_category == "A":
            assert local
            assert [r["certificate_no"] for r in in_county] == [
                row["property_certificate_no"]
            ]
        elif child.base_category == "B":
            assert not local
            assert in_county
        elif child.base_category == "D":
            assert local
            assert not in_county
        elif child.base_category == "E":
            assert not local
            assert not in_county
            assert clean.permit[guardian]["valid"]
            assert (
                date.fromisoformat(clean.permit[guardian]["expires_on"]) > clean.as_of
            )
            assert clean.insurance[guardian]["months_last_24"] >= 6
        if child.category == "C":
            assert row["preferential_policy"] in ("高层次人才子女", "其他优抚政策子女")
        else:
            assert row["preferential_policy"] == "无"


def test_mistakes_at_requested_rate() -> None:
    sim = generate_families(
        county_code=COUNTY,
        count=1000,
        seed=4,
        year=2025,
        mismatch_rate=0,
        mistake_rate=0.1,
    )
    mistaken = [c for c in sim.children if c.mistakes]
    duplicates = sum("duplicate" in c.mistakes for c in mistaken)
    assert len(mistaken) == round(0.1 * 1000)
    assert len(sim.rows) == 1000 + duplicates


def test_mistakes_appear_in_rows() -> None:
    sim = generate_families(
        county_code=COUNTY,
        count=1000,
        seed=4,
        year=2025,
        mismatch_rate=0,
        mistake_rate=0.2,
    )
    rows_by_id = {row["submission_id"]: row for row in sim.rows}
    school_names = {s.name for s in Geography.load().schools}
    for child in sim.children:
        rows = [rows_by_id[sid] for sid in child.submission_ids]
        first = rows[0]
        for kind in child.mistakes:
            if kind == "id_check_typo":
                with pytest.raises(InvalidIdNumber):
                    parse_id_number(first["student_id_number"])
            elif kind == "missing_mobile":
                assert first["guardian_mobile"] == ""
            elif kind == "no_consent":
                assert first["consent"] == "否"
            elif kind == "wrong_school":
                assert first["preferred_school"] not in school_names
            elif kind == "duplicate":
                assert len(rows) == 2
                assert rows[0]["student_id_number"] == rows[1]["student_id_number"]
                assert rows[0]["submitted_at"] < rows[1]["submitted_at"]
            elif kind == "age":
                birth = parse_id_number(first["student_id_number"]).birth_date
                assert age_on(birth, CUTOFF) != 6
            elif kind == "expired_permit":
                assert date.fromisoformat(first["permit_expires_on"]) < date(2025, 7, 1)


def test_twins_share_guardian(simulation: Simulation) -> None:
    rows = {row["submission_id"]: row for row in simulation.rows}
    truths = {c.student_id_number: c for c in simulation.children}
    twins = [c for c in simulation.children if c.sibling_id_numbers]
    assert twins
    for child in twins:
        sibling = truths[child.sibling_id_numbers[0]]
        assert sibling.sibling_id_numbers == [child.student_id_number]
        guardian = rows[child.submission_ids[0]]["guardian_id_number"]
        assert guardian == rows[sibling.submission_ids[0]]["guardian_id_number"]
        if "age" not in child.mistakes + sibling.mistakes:
            assert child.student_id_number[6:14] == sibling.student_id_number[6:14]


def test_addresses_resolve_to_zones(clean: Simulation, zone_index: ZoneIndex) -> None:
    rows = {row["submission_id"]: row for row in clean.rows}
    for child in clean.children:
        row = rows[child.submission_ids[0]]
        zone = zone_index.find(row["address"], COUNTY)
        assert zone is not None, row["address"]
        if child.base_category in ("A", "B"):
            assert zone.school_code == child.zone_school_code, row["address"]
        if child.base_category == "B":
            assert zone.urban, row["address"]


def test_household_address_decides_d_zone(
    clean: Simulation, zone_index: ZoneIndex
) -> None:
    for child in clean.children:
        if child.base_category != "D":
            continue
        address = clean.household[child.student_id_number]["registered_address"]
        zone = zone_index.find(address, COUNTY)
        assert zone is not None
        assert zone.school_code == child.zone_school_code


def test_submissions_burst_on_opening_day(simulation: Simulation) -> None:
    times = [row["submitted_at"] for row in simulation.rows]
    assert times == sorted(times)
    opening_day = sum(t.startswith("2025-07-01") for t in times)
    assert opening_day > len(times) * 0.6
    assert times[-1] <= "2025-07-31 23:59:59"


@pytest.mark.parametrize("county", ["620402", "620403", "620421", "620422", "620423"])
def test_every_county_generates(county: str, zone_index: ZoneIndex) -> None:
    sim = generate_families(
        county_code=county, count=50, seed=1, year=2025, mistake_rate=0
    )
    assert len(sim.children) == 50
    for row in sim.rows:
        assert zone_index.find(row["address"], county) is not None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"county_code": "110101"}, "unknown county"),
        ({"stage": "senior"}, "stage"),
        ({"mismatch_rate": 1.5}, "mismatch_rate"),
        ({"count": -1}, "count"),
    ],
)
def test_invalid_arguments_raise(arguments: dict[str, object], message: str) -> None:
    settings: dict[str, object] = {
        "county_code": COUNTY,
        "count": 5,
        "seed": 1,
        "year": 2025,
    }
    settings.update(arguments)
    with pytest.raises(ValueError, match=message):
        generate_families(**settings)  # type: ignore[arg-type]


def test_registry_and_rows_files(clean: Simulation, tmp_path: Path) -> None:
    registry = tmp_path / "registry.json"
    rows = tmp_path / "rows.csv"
    write_registry(clean, registry)
    write_rows_csv(clean, rows)
    data = json.loads(registry.read_text(encoding="utf-8"))
    header = rows.read_text(encoding="utf-8").splitlines()[0]
    assert data["county"] == COUNTY
    assert data["as_of"] == "2025-07-31"
    assert len(data["feed"]) == len(clean.rows)
    assert set(data) >= {"household", "permit", "real_estate", "insurance", "feed"}
    assert header.split(",") == list(ROW_FIELDS)
