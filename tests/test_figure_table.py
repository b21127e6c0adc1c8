"""The figure table widget on its own, driven through the Textual pilot."""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import App, ComposeResult

from console.widgets.figure_table import FigureTable


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FigureTable(["学校代码", "学校", "学位使用率"], id="table")


def line_text(table: FigureTable, y: int) -> str:
    return "".join(segment.text for segment in table.render_line(y))


async def test_rows_fit_before_idle() -> None:
    """Columns fit the new rows at once, not only after the table's idle handler."""
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(FigureTable)
        await pilot.pause()

        # No pause here: the screen may paint before the table's idle handler runs,
        # which is when DataTable measures new rows of auto-width columns.
        table.show_rows([["620402P01", "白银区人民路小学", "100.0%"]], ["P01"])

        assert "620402P01" in line_text(table, 1)
        assert "白银区人民路小学" in line_text(table, 1)
        assert "100.0%" in line_text(table, 1)
        assert "学位使用率" in line_text(table, 0)


async def test_columns_shrink_with_shorter_rows() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(FigureTable)
        await pilot.pause()
        table.show_rows([["620402P01", "白银区人民路小学", "100.0%"]], ["P01"])
        await pilot.pause()

        table.show_rows([["620402P02", "银光小学", "80.0%"]], ["P02"])
        await pilot.pause()

        line = line_text(table, 1)
        # Widths 9, 8 and 10 cells, each column padded by one cell on both sides.
        assert cell_len(line[: line.index("80.0%") + len("80.0%")]) == 11 + 10 + 11
