"""Error files: the rejected rows as they came in, plus a column that says what to fix.

Staff correct the file and import it again. An import ignores the error column,
and the error file of a corrected error file replaces its old error column.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from console.intake.headers import ERROR_COLUMN
from console.intake.reader import Table


def write_error_file(
    table: Table,
    path: Path,
    problems: Mapping[int, str],
    *,
    file_format: str | None = None,
) -> int:
    """Write the rows of `table` numbered in `problems` to `path`, with their problems.

    The format is `file_format`, else the suffix of `path` (.csv or .xlsx), else the
    input's; a CSV keeps the input's encoding. Returns the number of rows written.
    """
    chosen = file_format or _format_of(path) or table.format
    headers = list(table.mapping.headers)
    error_index = _error_column(headers)
    if error_index is None:
        headers.append(ERROR_COLUMN)
    out_rows: list[list[str]] = []
    for number, cells in enumerate(table.records(), start=table.first_row):
        if number not in problems:
            continue
        row = list(cells) + [""] * (len(table.mapping.headers) - len(cells))
        if error_index is None:
            row.append(problems[number])
        else:
            row[error_index] = problems[number]
        out_rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    if chosen == "xlsx":
        _write_xlsx(path, headers, out_rows)
    else:
        encoding = table.encoding if table.format == "csv" else "utf-8-sig"
        with path.open("w", encoding=encoding or "utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, delimiter=table.delimiter)
            writer.writerow(headers)
            writer.writerows(out_rows)
    return len(out_rows)


def _format_of(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx"}.get(suffix)


def _error_column(headers: list[str]) -> int | None:
    for index, header in enumerate(headers):
        if header.strip() == ERROR_COLUMN:
            return index
    return None


def _write_xlsx(path: Path, headers: list[str], rows: list[list[str]]) -> None:
    """Write text cells only, so that ID numbers stay text when staff reopen the file."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("错误行")
    sheet.append(headers)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "@"
            cells.append(cell)
        sheet.append(cells)
    workbook.save(path)
