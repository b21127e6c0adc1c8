"""The season dashboard driven through the Textual pilot on real SQLite databases."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import select
from textual.pilot import Pilot
from textual.widgets import Select, Static

from console.context import AppContext
from console.db import session_scope
from console.models import Application, School, Season, Window
from console.policy import FIXTURES_DIR as FIXTURES
from console.rules.idnumber import make_id_number
from console.screens.app import AdmissionsApp
from console.screens.dashboard import DashboardScreen
from console.screens.error import ErrorScreen
from console.widgets.figure_table import FigureTable
from tests.stats_data import COUNTY, OTHER_COUNTY, SCHOOL_1, fill_season

SIZE = (160, 48)


@pytest.fixture()
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "season.db"
    fill_season(path)
    return path


def make_app(path: Path) -> AdmissionsApp:
    return AdmissionsApp(
        AppContext(db_url=str(path), operator="tester"), refresh_seconds=None
    )


async def settle(pilot: Pilot[None]) -> None:
    """Wait until the stats worker finished and its message was handled."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


def table(app: AdmissionsApp, selector: str) -> FigureTable:
    return app.screen.query_one(selector, FigureTable)


def static_text(app: AdmissionsApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_status_table_by_batch(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = table(app, "#status-table")

        assert isinstance(app.screen, DashboardScreen)
        assert status.row_texts("placed") == [
            "已录取",
            "2",
            "0",
            "0",
            "1",
            "0",
            "0",
            "3",
        ]
        assert status.row_texts("withdrawn") == [
            "已撤回",
            "1",
            "0",
            "0",
            "0",
            "0",
            "0",
            "1",
        ]
        assert status.row_texts("total") == ["合计", "3", "0", "0", "1", "1", "2", "7"]
        assert status.row_count == 11


async def test_school_table_fill(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        schools = table(app, "#school-table")
        row = schools.row_texts(SCHOOL_1)

        assert row[:2] == [SCHOOL_1, "白银区人民路小学"]
        assert row[3:] == ["180", "3", "2", "2", "178", "1.1%"]
        # Across counties the table lists the schools of the counties and stages
        # that have a window this season, and no others.
        with session_scope(app.context.engine) as session:
            running = set(session.exec(select(Window.county_code, Window.stage)).all())
            listed = [
                school
                for school in session.exec(select(School)).all()
                if (school.county_code, school.stage) in running
            ]
            all_schools = len(session.exec(select(School)).all())
        assert schools.row_count == len(listed)
        assert schools.row_count < all_schools


async def test_lookup_and_notice_tables(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        lookups = table(app, "#lookup-table")
        assert lookups.row_texts("household")[:6] == [
            "户籍信息",
            "4",
            "1",
            "1",
            "6",
            "83.3%",
        ]
        notices = table(app, "#notice-table")
        assert notices.row_texts("delivered") == ["已送达", "2"]
        assert notices.row_texts("total") == ["合计", "4"]
        title = app.screen.query_one("#notice-panel").border_title
        assert "72.0 小时" in str(title)


async def test_selectors_filled_from_database(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        season_select = app.screen.query_one("#season-select", Select)
        assert season_select.value == 2025
        assert app.screen.sub_title == "2025年义务教育招生 · 全部区县 · 全部学段"
        assert "有效申请 6" in static_text(app, "#summary")


def fixture_schools(county: str, stage: str | None = None) -> int:
    """Count the fixture schools of a county (and stage), which the dashboard lists."""
    rows = [
        line.split(",")
        for line in (FIXTURES / "schools.csv").read_text(encoding="utf-8").splitlines()
        if not line.startswith(("#", "code,"))
    ]
    return sum(row[1] == county and stage in (None, row[3]) for row in rows)


async def test_county_selector_narrows_tables(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#county-select", Select).value = OTHER_COUNTY
        await settle(pilot)

        counties = table(app, "#county-table")
        assert counties.row_count == 2
        assert counties.row_texts(f"{OTHER_COUNTY}:primary")[:3] == [
            "平川区",
            "小学一年级",
            "1",
        ]
        assert table(app, "#status-table").row_texts("total")[-1] == "1"
        schools_of_county = sum(
            line.split(",")[1] == OTHER_COUNTY
            for line in (FIXTURES / "schools.csv")
            .read_text(encoding="utf-8")
            .splitlines()
            if not line.startswith(("#", "code,"))
        )
        assert table(app, "#school-table").row_count == schools_of_county
        assert "平川区" in str(app.screen.sub_title)


async def test_stage_selector_narrows_schools(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#county-select", Select).value = COUNTY
        await settle(pilot)
        app.screen.query_one("#stage-select", Select).value = "junior"
        await settle(pilot)

        schools = table(app, "#school-table")
        assert schools.row_count == fixture_schools(COUNTY, "junior")
        assert table(app, "#status-table").row_texts("total")[-1] == "0"


async def test_refresh_key_reads_new_rows(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert table(app, "#status-table").row_texts("submitted")[-1] == "2"

        add_submitted_application(app, db_path)
        await pilot.press("r")
        await settle(pilot)

        assert table(app, "#status-table").row_texts("submitted")[-1] == "3"


async def test_timer_refreshes_figures(db_path: Path) -> None:
    context = AppContext(db_url=str(db_path), operator="tester")
    app = AdmissionsApp(context, refresh_seconds=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        add_submitted_application(app, db_path)
        await pilot.pause(0.8)
        await settle(pilot)

        assert table(app, "#status-table").row_texts("submitted")[-1] == "3"


def add_submitted_application(app: AdmissionsApp, db_path: Path) -> None:
    with session_scope(app.context.engine) as session:
        season = session.exec(select(Season)).one()
        assert season.id is not None
        session.add(
            Application(
                season_id=season.id,
                county_code=COUNTY,
                student_name="测试新生",
                student_id_number=make_id_number(COUNTY, date(2019, 5, 5), 88),
                gender="女",
                birth_date=date(2019, 5, 5),
                address="白银区公园路街道1号",
                guardian_name="测试母亲",
                guardian_id_number=make_id_number(COUNTY, date(1991, 2, 2), 88),
                guardian_relation="母亲",
                guardian_mobile="13900008888",
                emergency_name="测试外婆",
                emergency_id_number=make_id_number(COUNTY, date(1966, 3, 3), 88),
                emergency_relation="外祖母",
                emergency_mobile="13700008888",
                submitted_at=datetime(2025, 7, 3, 2, 0, tzinfo=UTC),
            )
        )


async def test_empty_database_message(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()
    app = make_app(tmp_path / "empty.db")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        assert app.screen.has_class("-empty")
        message = static_text(app, "#empty-message")
        assert "admissions init" in message
        assert "admissions rehearse" in message
        assert "empty.db" in message
        assert not app.screen.query_one("#figures").display


async def test_read_failure_opens_error_dialog(db_path: Path) -> None:
    with sqlite3.connect(db_path) as connection:
        connection.execute("ALTER TABLE lookup RENAME TO lookup_old")

    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        assert isinstance(app.screen, ErrorScreen)
        assert app.screen.error_title == "数据库读取失败"
        assert "ADMISSIONS_DB" in app.screen.error_message
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)
        assert "读取失败" in static_text(app, "#updated")


async def test_quit_key_exits(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()

        assert not app.is_running


def test_bindings_have_ids() -> None:
    ids = {binding.id for binding in DashboardScreen.BINDINGS}  # type: ignore[union-attr]

    assert ids == {"dashboard.refresh", "dashboard.quit"}


async def test_lower_panels_reachable_on_small_terminal(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        notices = table(app, "#notice-table")

        notices.focus()
        await pilot.pause()
        await pilot.pause()

        screen_region = app.screen.region
        assert notices.region.height > 0
        assert screen_region.contains_region(notices.region)
        figures = app.screen.query_one("#figures")
        assert figures.region.contains_region(notices.region)


async def test_figures_time_fits_80_columns(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        updated = app.screen.query_one("#updated")
        selects = app.screen.query_one("#filters")

        # "统计时间 03:05:08" takes 17 cells: on the selectors' line, not wrapped.
        assert updated.region.width >= 17
        assert updated.region.y == selects.region.y
        assert updated.region.right <= 80


async def test_file_not_database_dialog(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("这不是数据库\n" * 100, encoding="utf-8")

    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)

        assert isinstance(app.screen, ErrorScreen)
        assert "notes.db" in app.screen.error_message
        assert "不是招生控制台的 SQLite 数据库" in app.screen.error_message
        assert "file is not a database" not in app.screen.error_message


async def test_review_queue_panel(db_path: Path) -> None:
    app = make_app(db_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        reviews = table(app, "#review-table")

        assert reviews.row_count == 3
        assert reviews.row_texts("exception")[0] == "异常待审"
        assert reviews.row_texts("batch_c")[0] == "C类入学审核"
        assert reviews.row_texts("school")[0] == "学校片区确认"
