"""The Textual application that `admissions` opens when run without a sub-command."""

from __future__ import annotations

from sqlalchemy.exc import ArgumentError
from textual.app import App

from console.context import AppContext
from console.errors import AdmissionsError
from console.screens.dashboard import DashboardScreen


class AdmissionsApp(App[None]):
    """Operations console, opened on the season dashboard."""

    TITLE = "义务教育招生控制台"
    # Textual's command palette is English and the console offers no commands there.
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self, context: AppContext, *, refresh_seconds: float | None = 60.0
    ) -> None:
        super().__init__()
        self.context = context
        self.refresh_seconds = refresh_seconds

    def on_mount(self) -> None:
        self.push_screen(
            DashboardScreen(self.context.engine, refresh_seconds=self.refresh_seconds)
        )


def run_dashboard(app_context: AppContext) -> None:
    """Open the season dashboard on the database of `app_context` until staff quit."""
    try:
        app_context.engine  # noqa: B018 (builds the engine so a bad URL fails here)
    except ArgumentError as error:
        raise AdmissionsError(
            f"数据库地址 {app_context.db_url} 无效：{error}。"
            "请用 --db 给出 SQLite 文件路径或 SQLAlchemy URL，"
            "例如 --db season.db 或 --db postgresql://127.0.0.1/admissions。",
            title="无法打开数据库",
        ) from error
    AdmissionsApp(app_context).run()
