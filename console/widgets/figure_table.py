"""A read-only DataTable of figures that keeps the cursor across refreshes."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from console.services.stats import is_figure

Cell = str | int | Text


class FigureTable(DataTable[Cell]):
    """DataTable whose rows are replaced as a whole, with figures right-aligned."""

    DEFAULT_CSS = """
    FigureTable {
        height: auto;
        max-height: 100%;
    }
    """

    def __init__(self, headers: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._headers = list(headers)

    def on_mount(self) -> None:
        for index, header in enumerate(self._headers):
            self.add_column(header, key=str(index))

    def show_rows(self, rows: Sequence[Sequence[Cell]], keys: Sequence[str]) -> None:
        """Replace all rows; `keys` gives each row a key that tests and handlers use.

        The columns are added again with widths measured here. An auto-width column
        grows only when the table's idle handler measures new rows, and a paint before
        that (seen on the first load at 80x24) left cells cut to the header width until
        the next refresh.
        """
        cursor_row = self.cursor_row
        widths = [cell_len(header) for header in self._headers]
        for row in rows:
            for index, cell in enumerate(row):
                widths[index] = max(widths[index], _cell_width(cell))
        self.clear(columns=True)
        for index, (header, width) in enumerate(
            zip(self._headers, widths, strict=True)
        ):
            self.add_column(header, key=str(index), width=width)
        for key, row in zip(keys, rows, strict=True):
            self.add_row(*(_align(cell) for cell in row), key=key)
        if rows:
            self.move_cursor(row=min(cursor_row, len(rows) - 1))

    def row_texts(self, key: str) -> list[str]:
        """Return the plain text of each cell of the row with `key`."""
        return [str(cell) for cell in self.get_row(key)]


def _cell_width(cell: Cell) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return cell_len(text)


def _align(cell: Cell) -> Cell:
    if is_figure(cell):
        return Text(str(cell), justify="right")
    return cell
