"""The season dashboard: applications, seats and placements, lookups and notices."""

from __future__ import annotations

import logging
from typing import Any

from rich.text import Text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from console.db import session_scope
from console.errors import AdmissionsError, NotFoundError
from console.models import Stage
from console.services.stats import (
    COUNTY_HEADERS,
    LEFT_STATUSES,
    LOCAL_TIME,
    LOOKUP_HEADERS,
    NOTICE_HEADERS,
    REVIEW_HEADERS,
    SCHOOL_HEADERS,
    STAGE_LABELS,
    STATUS_HEADERS,
    SeasonStats,
    StatsScopes,
    county_rows,
    format_hours,
    format_rate,
    lookup_rows,
    notice_rows,
    review_rows,
    school_rows,
    scope_label,
    season_stats,
    stats_scopes,
    status_rows,
)
from console.widgets.figure_table import Cell, FigureTable

logger = logging.getLogger(__name__)

# A fill rate at or above this share of seats is highlighted as nearly full.
NEARLY_FULL = 0.9


class DashboardScreen(Screen[None]):
    """Season figures for one season, county and stage, read in a thread worker.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | r | dashboard.refresh | read the figures again |
    | q | dashboard.quit | quit the console |
    """

    CSS_PATH = "dashboard.tcss"
    # Under 100 columns the selectors narrow, so that the time of the figures fits
    # on the same line of an 80-column terminal.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("r", "refresh_stats", "刷新", id="dashboard.refresh"),
        Binding("q", "app.quit", "退出", id="dashboard.quit"),
    ]

    class StatsLoaded(Message):
        """The worker read the figures and the selector options."""

        def __init__(self, scopes: StatsScopes, stats: SeasonStats) -> None:
            super().__init__()
            self.scopes = scopes
            self.stats = stats

    class StatsUnavailable(Message):
        """The database has no schema or no season yet, so there is nothing to show."""

        def __init__(self, message: str, scopes: StatsScopes | None) -> None:
            super().__init__()
            self.message = message
            self.scopes = scopes

    class StatsFailed(Message):
        """Reading the figures failed, and the message names what staff should check."""

        def __init__(self, title: str, message: str) -> None:
            super().__init__()
            self.title = title
            self.message = message

    def __init__(self, engine: Engine, *, refresh_seconds: float | None = 60.0) -> None:
        super().__init__()
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self.stats: SeasonStats | None = None
        self.scopes = StatsScopes(years=[], counties=[])

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filters"):
            yield Select[int]([], prompt="最新年度", id="season-select")
            yield Select[str]([], prompt="全部区县", id="county-select")
            stages = [(STAGE_LABELS[stage], stage.value) for stage in Stage]
            yield Select[str](stages, prompt="全部学段", id="stage-select")
            yield Static("正在读取统计数据…", id="updated")
        yield Static("", id="summary")
        yield Static("", id="empty-message")
        with Vertical(id="figures"):
            with Horizontal(id="upper"):
                with _panel("status-panel", "申请状态与批次"):
                    yield FigureTable(STATUS_HEADERS, id="status-table")
                with _panel("county-panel", "区县汇总"):
                    yield FigureTable(COUNTY_HEADERS, id="county-table")
            with _panel("school-panel", "学校学位与录取"):
                yield FigureTable(SCHOOL_HEADERS, id="school-table")
            with Horizontal(id="lower"):
                with _panel("lookup-panel", "数据共享查询"):
                    yield FigureTable(LOOKUP_HEADERS, id="lookup-table")
                with _panel("notice-panel", "录取通知短信"):
                    yield FigureTable(NOTICE_HEADERS, id="notice-table")
                with _panel("review-panel", "审核队列"):
                    yield FigureTable(REVIEW_HEADERS, id="review-table")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "招生总览"
        self.action_refresh_stats()
        if self.refresh_seconds:
            self.set_interval(self.refresh_seconds, self.action_refresh_stats)

    def action_refresh_stats(self) -> None:
        """Start reading the figures for the selected season, county and stage."""
        self.query_one("#updated", Static).update("正在读取统计数据…")
        self.load_stats(
            year=_selected(self.query_one("#season-select", Select)),
            county_code=_selected(self.query_one("#county-select", Select)),
            stage=_selected(self.query_one("#stage-select", Select)),
        )

    @on(Select.Changed)
    def filter_changed(self) -> None:
        self.action_refresh_stats()

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def load_stats(
        self, *, year: int | None, county_code: str | None, stage: str | None
    ) -> None:
        """Read the figures in a thread and post the outcome as a message."""
        worker = get_current_worker()
        message: Message
        scopes: StatsScopes | None = None
        try:
            with session_scope(self.engine) as session:
                scopes = stats_scopes(session)
                stats = season_stats(
                    session, year=year, county_code=county_code, stage=stage
                )
            message = self.StatsLoaded(scopes, stats)
        except NotFoundError as error:
            message = self.StatsUnavailable(error.message, scopes)
        except AdmissionsError as error:
            message = self.StatsFailed(error.title, error.message)
        except SQLAlchemyError as error:
            # Only the class is logged: SQLAlchemy messages may carry row values.
            logger.warning("dashboard read failed: %s", type(error).__name__)
            database = self.engine.url.render_as_string(hide_password=True)
            message = self.StatsFailed(
                "数据库读取失败", _database_hint(error, database)
            )
        if not worker.is_cancelled:
            self.post_message(message)

    def on_dashboard_screen_stats_loaded(self, event: StatsLoaded) -> None:
        self.stats = event.stats
        self.set_class(False, "-empty")
        self._update_selectors(event.scopes, event.stats)
        self._show_stats(event.stats)

    def on_dashboard_screen_stats_unavailable(self, event: StatsUnavailable) -> None:
        self.stats = None
        self.set_class(True, "-empty")
        if event.scopes is not None:
            self._update_counties(event.scopes)
            self.scopes = event.scopes
        database = self.engine.url.render_as_string(hide_password=True)
        self.query_one("#empty-message", Static).update(
            f"{event.message}\n\n当前数据库：{database}"
        )
        self.query_one("#updated", Static).update("暂无统计数据")
        self.query_one("#summary", Static).update("")

    def on_dashboard_screen_stats_failed(self, event: StatsFailed) -> None:
        self.query_one("#updated", Static).update("读取失败，按 r 重试")
        self._show_error(event.title, event.message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        # Only the class is logged, as above, because the message may carry row values.
        logger.error("dashboard worker failed: %s", type(error).__name__)
        self.query_one("#updated", Static).update("读取失败，按 r 重试")
        self._show_error("统计读取失败", f"读取统计数据时出错：{error}。请按 r 重试。")

    def _show_error(self, title: str, message: str) -> None:
        from console.screens.error import ErrorScreen

        # The timer keeps refreshing while the dialog is open, so show one at a time.
        if isinstance(self.app.screen, ErrorScreen):
            return
        self.app.push_screen(ErrorScreen(title, message))

    def _update_selectors(self, scopes: StatsScopes, stats: SeasonStats) -> None:
        season_select: Select[int] = self.query_one("#season-select", Select)
        with self.prevent(Select.Changed):
            if scopes.years != self.scopes.years:
                season_select.set_options(
                    [(f"{year} 年度", year) for year in scopes.years]
                )
            if season_select.value != stats.year:
                season_select.value = stats.year
        self._update_counties(scopes)
        self.scopes = scopes

    def _update_counties(self, scopes: StatsScopes) -> None:
        if scopes.counties == self.scopes.counties:
            return
        county_select: Select[str] = self.query_one("#county-select", Select)
        selected = county_select.value
        codes = [code for code, _name in scopes.counties]
        with self.prevent(Select.Changed):
            county_select.set_options([(name, code) for code, name in scopes.counties])
            if selected in codes:
                county_select.value = selected

    def _show_stats(self, stats: SeasonStats) -> None:
        self.sub_title = scope_label(stats, dict(self.scopes.counties))
        generated = stats.generated_at.astimezone(LOCAL_TIME).strftime("%H:%M:%S")
        self.query_one("#updated", Static).update(f"统计时间 {generated}")
        self.query_one("#summary", Static).update(_summary(stats))

        status_keys = [*stats.status_by_batch, "total"]
        self._table("#status-table").show_rows(status_rows(stats), status_keys)
        self._table("#county-table").show_rows(
            county_rows(stats), [f"{c.county_code}:{c.stage}" for c in stats.counties]
        )
        self._table("#school-table").show_rows(
            _school_cells(stats), [school.code for school in stats.schools]
        )
        lookup_panel = self.query_one("#lookup-panel")
        lookup_panel.border_title = (
            f"数据共享查询 · 免交纸质材料 {stats.paper_copies_avoided} 份"
        )
        self._table("#lookup-table").show_rows(
            lookup_rows(stats), [lookup.interface for lookup in stats.lookups]
        )
        median = format_hours(stats.median_hours_to_notice)
        notice_panel = self.query_one("#notice-panel")
        notice_panel.border_title = f"录取通知短信 · 中位 {median} 小时"
        notice_panel.border_subtitle = "提交至首条通知"
        self._table("#notice-table").show_rows(
            notice_rows(stats), [*stats.notices_by_state, "total"]
        )
        self._table("#review-table").show_rows(review_rows(stats), list(stats.reviews))

    def _table(self, selector: str) -> FigureTable:
        return self.query_one(selector, FigureTable)


def _panel(panel_id: str, title: str) -> Vertical:
    panel = Vertical(id=panel_id, classes="panel")
    panel.border_title = title
    return panel


def _selected(select: Select[Any]) -> Any:
    return None if select.value == Select.NULL else select.value


def _summary(stats: SeasonStats) -> str:
    left = sum(sum(stats.status_by_batch[status].values()) for status in LEFT_STATUSES)
    live = stats.applications_total - left
    seats = sum(school.seats for school in stats.schools)
    placed = sum(school.placed for school in stats.schools)
    delivered = stats.notices_by_state.get("delivered", 0)
    # A notice cancelled because its application left the season is not owed.
    notices = sum(
        count for state, count in stats.notices_by_state.items() if state != "cancelled"
    )
    return (
        f"有效申请 {live}  ·  学位 {seats}  ·  已录取 {placed}"
        f"（学位使用率 {format_rate(placed / seats if seats else None)}）"
        f"  ·  免交纸质材料 {stats.paper_copies_avoided} 份"
        f"  ·  短信已送达 {delivered}/{notices}"
        f"  ·  投诉未办结 {stats.cases.get('complaint', {}).get('open', 0)}"
    )


def _school_cells(stats: SeasonStats) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for school, row in zip(stats.schools, school_rows(stats), strict=True):
        fill = school.fill_rate
        style = ""
        if fill is not None and fill >= 1:
            style = "bold red"
        elif fill is not None and fill >= NEARLY_FULL:
            style = "yellow"
        rows.append([*row[:-1], Text(format_rate(fill), style=style, justify="right")])
    return rows


def _database_hint(error: SQLAlchemyError, database: str) -> str:
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    if "file is not a database" in first_line:
        return (
            f"{database} 不是招生控制台的 SQLite 数据库，或文件已损坏。"
            "请退出后用 --db 或环境变量 ADMISSIONS_DB 指向正确的数据库文件。"
        )
    return (
        f"无法读取数据库：{first_line}。"
        "请检查 --db 参数或环境变量 ADMISSIONS_DB 指向的数据库是否可用，然后按 r 重试。"
    )
