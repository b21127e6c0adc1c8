"""Season statistics on a real SQLite database, and the `stats` command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from console.cli import cli
from console.db import create_schema, make_engine, session_scope
from console.errors import AdmissionsError, NotFoundError
from console.models import STATUS_LABELS
from console.services.stats import (
    BATCH_KEYS,
    INTERFACE_LABELS,
    NOTICE_STATE_LABELS,
    SeasonStats,
    format_rate,
    render_tables,
    season_stats,
)
from tests.postgres import postgres_schema
from tests.stats_data import COUNTY, OTHER_COUNTY, SCHOOL_1, SCHOOL_2, YEAR, fill_season


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "season.db"
    fill_season(path)
    return path


@pytest.fixture()
def engine(db_path: Path) -> Engine:
    return make_engine(f"sqlite:///{db_path}")


def county_stats(engine: Engine, **filters: object) -> SeasonStats:
    with session_scope(engine) as session:
        return season_stats(session, **filters)  # type: ignore[arg-type]


def parse_tables(text: str) -> dict[str, list[list[str]]]:
    """Split `render_tables` output into {title: rows of cells}, header row first."""
    tables: dict[str, list[list[str]]] = {}
    for block in text.strip().split("\n\n")[1:]:
        lines = block.splitlines()
        title = lines[0].split("（")[0]
        if len(lines) < 3:
            tables[title] = []
            continue
        header, rows = lines[1], lines[3:]
        tables[title] = [header.split()] + [row.split() for row in rows]
    return tables


def test_status_by_batch_counts(engine: Engine) -> None:
    stats = county_stats(engine, county_code=COUNTY)

    assert stats.year == YEAR
    assert stats.status_by_batch["placed"]["A"] == 2
    assert stats.status_by_batch["placed"]["D"] == 1
    assert stats.status_by_batch["unplaced"]["E"] == 1
    assert stats.status_by_batch["withdrawn"]["A"] == 1
    assert stats.status_by_batch["submitted"]["unclassified"] == 1
    assert stats.applications_total == 6
    assert stats.batch_totals() == {
        "A": 3,
        "B": 0,
        "C": 0,
        "D": 1,
        "E": 1,
        "unclassified": 1,
    }


def test_all_counties_include_other_county(engine: Engine) -> None:
    stats = county_stats(engine)

    assert stats.applications_total == 7
    other = [c for c in stats.counties if c.county_code == OTHER_COUNTY]
    assert [c.applications for c in other if c.stage == "primary"] == [1]
    assert all(c.run_id is None for c in other)


def test_school_placements_use_current_run(engine: Engine) -> None:
    stats = county_stats(engine, county_code=COUNTY, stage="primary")
    schools = {school.code: school for school in stats.schools}

    # The withdrawn child's placement and the superseded run hold no seat.
    assert schools[SCHOOL_1].placed == 2
    assert schools[SCHOOL_2].placed == 1
    assert schools[SCHOOL_1].free_seats == schools[SCHOOL_1].seats - 2
    assert schools[SCHOOL_1].fill_rate == pytest.approx(2 / schools[SCHOOL_1].seats)
    assert schools[SCHOOL_1].first_choice == 3
    assert schools[SCHOOL_1].in_zone == 2
    assert schools[SCHOOL_2].in_zone == 2
    assert all(school.stage == "primary" for school in stats.schools)
    assert all(school.county_code == COUNTY for school in stats.schools)


def test_all_counties_count_seats_of_running_counties(engine: Engine) -> None:
    stats = county_stats(engine)
    idle = county_stats(engine, county_code="620421")  # 靖远县: no window this season

    assert {(s.county_code, s.stage) for s in stats.schools} == {
        (COUNTY, "primary"),
        (OTHER_COUNTY, "primary"),
    }
    assert {c.county_code for c in stats.counties} == {COUNTY, OTHER_COUNTY}
    # A county asked for by name still lists its schools and seats.
    assert idle.schools
    for county in idle.counties:
        assert county.seats == sum(
            school.seats for school in idle.schools if school.stage == county.stage
        )


def test_county_summary_of_run(engine: Engine) -> None:
    stats = county_stats(engine, county_code=COUNTY, stage="primary")

    assert len(stats.counties) == 1
    county = stats.counties[0]
    assert county.county_name == "白银区"
    assert county.applications == 5  # the withdrawn application is not live
    assert county.placed == 3
    assert county.unplaced == 1
    assert county.run_state == "approved"
    assert county.seats == sum(school.seats for school in stats.schools)


def test_lookups_by_interface(engine: Engine) -> None:
    stats = county_stats(engine, county_code=COUNTY)
    lookups = {lookup.interface: lookup for lookup in stats.lookups}

    household = lookups["household"]
    assert (household.found, household.not_found, household.failed) == (3, 1, 1)
    assert household.total == 5
    assert household.success_rate == pytest.approx(0.8)
    assert household.mean_duration_ms == pytest.approx(360)
    assert lookups["real_estate"].found == 1
    assert [lookup.interface for lookup in stats.lookups] == [
        "household",
        "real_estate",
    ]
    # Two found household lookups of one child count as one copy.
    assert stats.paper_copies_avoided == 3


def test_notices_and_time_to_notice(engine: Engine) -> None:
    stats = county_stats(engine, county_code=COUNTY)

    assert stats.notices_by_state == {
        "pending": 0,
        "sent": 1,
        "delivered": 2,
        "failed": 1,
    }
    assert sorted(stats.notice_hours) == pytest.approx([48, 72, 96])
    assert stats.median_hours_to_notice == pytest.approx(72)


def test_stage_filter_without_data(engine: Engine) -> None:
    stats = county_stats(engine, county_code=COUNTY, stage="junior")

    assert stats.applications_total == 0
    assert stats.lookups == []
    assert stats.median_hours_to_notice is None
    assert stats.schools
    assert all(school.placed == 0 for school in stats.schools)
    assert "（暂无查询记录。）" in render_tables(stats)


def test_school_scope_counts(engine: Engine) -> None:
    stats = county_stats(engine, school_code=SCHOOL_1)
    lookups = {lookup.interface: lookup for lookup in stats.lookups}

    # Children 1 and 2 are in the zone, 3 names the school first, 5 withdrew.
    assert stats.applications_total == 4
    assert stats.status_by_batch["placed"]["A"] == 2
    assert stats.status_by_batch["placed"]["D"] == 1
    assert stats.status_by_batch["withdrawn"]["A"] == 1
    assert [school.code for school in stats.schools] == [SCHOOL_1]
    assert stats.schools[0].placed == 2
    assert stats.county_code == COUNTY
    assert stats.stage == "primary"
    assert (lookups["household"].found, lookups["household"].not_found) == (3, 1)
    assert lookups["household"].failed == 0
    assert stats.notices_by_state["delivered"] == 2
    assert stats.notices_by_state["failed"] == 0
    assert "白银区人民路小学" in render_tables(stats).splitlines()[0]


def test_school_scope_includes_placed_there(engine: Engine) -> None:
    stats = county_stats(engine, school_code=SCHOOL_2)

    # Child 3 is placed at school 2 and child 4 is in its zone.
    assert stats.applications_total == 2
    assert stats.schools[0].placed == 1
    assert stats.to_dict()["school"] == SCHOOL_2


def test_school_scope_errors(engine: Engine) -> None:
    with pytest.raises(NotFoundError) as missing:
        county_stats(engine, school_code="620402P99")
    with pytest.raises(AdmissionsError) as other_county:
        county_stats(engine, school_code=SCHOOL_1, county_code=OTHER_COUNTY)
    with pytest.raises(AdmissionsError) as other_stage:
        county_stats(engine, school_code=SCHOOL_1, stage="junior")

    assert "620402P99" in missing.value.message
    assert "不属于区县 620403" in other_county.value.message
    assert "--stage junior" in other_stage.value.message


def test_json_equals_tables(engine: Engine) -> None:
    stats = county_stats(engine, county_code=COUNTY, stage="primary")
    data = stats.to_dict()
    tables = parse_tables(render_tables(stats))

    status_table = tables["申请状态与批次"]
    by_label = {row[0]: row[1:] for row in status_table[1:]}
    for status, row in data["applications"]["by_status"].items():
        expected = [str(row[key]) for key in BATCH_KEYS] + [str(row["total"])]
        assert by_label[STATUS_LABELS[status]] == expected, status
    total_row = [str(data["applications"]["by_batch"][key]) for key in BATCH_KEYS]
    assert by_label["合计"] == total_row + [str(data["applications"]["total"])]

    school_table = {row[0]: row for row in tables["学校学位与录取"][1:]}
    assert len(school_table) == len(data["schools"])
    for school in data["schools"]:
        row = school_table[school["code"]]
        assert row[1] == school["name"]
        figures = ["seats", "first_choice", "in_zone", "placed", "free_seats"]
        assert row[3:8] == [str(school[key]) for key in figures], school["code"]
        assert row[8] == format_rate(school["fill_rate"])

    county_row = tables["区县汇总"][1]
    county = data["counties"][0]
    assert county_row[0] == county["name"]
    assert county_row[2:6] == [
        str(county[key]) for key in ("applications", "seats", "placed", "unplaced")
    ]

    lookup_table = {row[0]: row[1:] for row in tables["数据共享查询"][1:]}
    for lookup in data["lookups"]["by_interface"]:
        row = lookup_table[INTERFACE_LABELS[lookup["interface"]]]
        counts = [str(lookup[key]) for key in ("found", "not_found", "failed", "total")]
        assert row[:4] == counts
        assert row[4] == format_rate(lookup["success_rate"])

    notice_table = {row[0]: row[1] for row in tables["录取通知短信"][1:]}
    for state, count in data["notices"]["by_state"].items():
        assert notice_table[NOTICE_STATE_LABELS[state]] == str(count)
    assert notice_table["合计"] == str(data["notices"]["total"])


def test_titles_carry_summary_figures(engine: Engine) -> None:
    stats = county_stats(engine, county_code=COUNTY)
    text = render_tables(stats)

    assert "白银区" in text.splitlines()[0]
    assert "免交纸质材料 3 份" in text
    assert "中位时长 72.0 小时" in text


def test_empty_database_names_init(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")

    with pytest.raises(NotFoundError) as error, session_scope(engine) as session:
        season_stats(session)
    assert "admissions init" in error.value.message
    assert "admissions rehearse" in error.value.message


def test_no_season_names_rehearse(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    create_schema(engine)

    with pytest.raises(NotFoundError) as error, session_scope(engine) as session:
        season_stats(session)
    assert "admissions rehearse" in error.value.message


def test_unknown_year_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFoundError) as error:
        county_stats(engine, year=1999)
    assert "1999" in error.value.message


def test_command_json_equals_tables(db_path: Path) -> None:
    runner = CliRunner()
    args = ["--db", str(db_path), "stats", "--county", "白银区", "--stage", "primary"]

    as_json = runner.invoke(cli, [*args, "--json"])
    as_text = runner.invoke(cli, args)

    assert as_json.exit_code == 0, as_json.output
    assert as_text.exit_code == 0, as_text.output
    data = json.loads(as_json.output)
    assert data["county"] == COUNTY
    assert data["applications"]["total"] == 6
    tables = parse_tables(as_text.output)
    placed_row = {row[0]: row for row in tables["申请状态与批次"]}[
        STATUS_LABELS["placed"]
    ]
    assert placed_row[-1] == str(data["applications"]["by_status"]["placed"]["total"])


def test_command_school_option(db_path: Path) -> None:
    args = ["--db", str(db_path), "stats", "--school", SCHOOL_2, "--json"]
    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["school"] == SCHOOL_2
    assert [school["code"] for school in data["schools"]] == [SCHOOL_2]


def test_command_empty_database_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "stats"])

    assert result.exit_code == 1
    assert "admissions init" in result.output


def test_command_unknown_county_fails(db_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["--db", str(db_path), "stats", "--county", "北京"]
    )

    assert result.exit_code == 2
    assert "区县 北京 不存在" in result.output


@pytest.fixture()
def postgres_engine() -> Iterator[Engine]:
    """Yield an engine on a schema of its own in the local `test` database."""
    with postgres_schema("stats") as engine:
        yield engine


@pytest.mark.postgres
def test_postgres_figures_match_sqlite(postgres_engine: Engine, engine: Engine) -> None:
    fill_season(postgres_engine)

    on_postgres = county_stats(postgres_engine, county_code=COUNTY).to_dict()
    on_sqlite = county_stats(engine, county_code=COUNTY).to_dict()

    for data in (on_postgres, on_sqlite):
        del data["generated_at"]
        for county in data["counties"]:
            del county["run_id"]
    assert on_postgres["applications"] == on_sqlite["applications"]
    assert on_postgres["schools"] == on_sqlite["schools"]
    assert on_postgres["lookups"] == on_sqlite["lookups"]
    assert on_postgres["notices"] == on_sqlite["notices"]
    assert on_postgres == on_sqlite
