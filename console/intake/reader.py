"""Reading application files: CSV in the UTF-8 and GB families, and XLSX.

Every cell comes out as text. A spreadsheet number that is too long to be exact
(15 significant digits) comes out in scientific notation, so that an ID number
stored as a number is recognised as damaged instead of passing as a wrong one.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from console.intake.headers import HeaderError, HeaderMapping, map_headers

# Encodings a user may force; GBK and GB2312 files are decoded as GB18030, their
# superset, so that a rare name character outside GBK is never lost.
ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb2312", "gb18030")
_GB_FAMILY = {"gbk", "gb2312", "gb18030", "cp936"}
# Numbers from this magnitude up have lost digits in a spreadsheet (15 significant digits).
_INEXACT_NUMBER = 1e15
# The header line is looked for among the first rows, below any title rows.
_HEADER_SEARCH_ROWS = 10


class ReadError(ValueError):
    """A file that cannot be read; `reason` is staff-facing Chinese text with the fix."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Table:
    """An opened application file: its format, header and data rows."""

    path: Path
    format: str  # csv or xlsx
    encoding: str | None  # for CSV: the codec used to decode it
    header_row: int  # 1-based number of the header row
    mapping: HeaderMapping
    delimiter: str = ","
    sheet: str | None = None
    _text: str | None = None
    # The parsed worksheet, kept so that the header search, the county scan and
    # the import parse the workbook once.
    _worksheet: Any = None

    @property
    def first_row(self) -> int:
        """Return the number of the first data row, as a spreadsheet shows it."""
        return self.header_row + 1

    def records(self) -> Iterator[list[str]]:
        """Yield the cells of each data row as text, blank rows included."""
        all_rows = self._all_rows()
        for _ in range(self.header_row):
            next(all_rows, None)
        yield from all_rows

    def rows(self) -> Iterator[dict[str, str]]:
        """Yield each data row as a dict of field keys."""
        for cells in self.records():
            yield self.mapping.to_row(cells)

    def _all_rows(self) -> Iterator[list[str]]:
        if self.format == "xlsx":
            if self._worksheet is None:
                self._worksheet = _load_worksheet(self.path, self.sheet)
            return _xlsx_rows(self.path, self._worksheet)
        assert self._text is not None
        return csv.reader(io.StringIO(self._text, newline=""), delimiter=self.delimiter)


def open_table(
    path: Path, *, encoding: str | None = None, sheet: str | None = None
) -> Table:
    """Open a CSV or XLSX file, find its header row and map the headers.

    Raises ReadError when the file is missing, cannot be decoded or has no
    recognisable header.
    """
    if not path.is_file():
        raise ReadError(f"文件 {path} 不存在，请检查路径")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        if encoding:
            raise ReadError("--encoding 只用于 CSV 文件，XLSX 文件不需要指定编码")
        table = Table(path, "xlsx", None, 0, _EMPTY_MAPPING, sheet=sheet)
    elif path.suffix.lower() == ".xls":
        raise ReadError(
            f"{path.name} 是旧版 Excel 97-2003 格式，请另存为 .xlsx 或 CSV 后再导入"
        )
    else:
        if sheet:
            raise ReadError("--sheet 只用于 XLSX 文件")
        data = path.read_bytes()
        used, text = decode_csv(data, encoding)
        table = Table(path, "csv", used, 0, _EMPTY_MAPPING, _text=text)
        table.delimiter = _sniff_delimiter(text)
    table.header_row, table.mapping = _find_header(table._all_rows(), path)
    return table


def decode_csv(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode CSV bytes and return (codec, text); detect UTF-8, its BOM, or the GB family."""
    if encoding:
        codec = _codec_for(encoding)
        if codec == "utf-8" and data.startswith(codecs.BOM_UTF8):
            codec = "utf-8-sig"
        candidates = [codec]
    elif data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for codec in candidates:
        try:
            return codec, data.decode(codec)
        except UnicodeDecodeError as exc:
            failure = exc
    raise ReadError(
        f"文件无法按 {'、'.join(candidates)} 解码（第 {failure.start} 字节）。"
        "请确认文件是 UTF-8 或 GBK/GB18030 编码的 CSV，或用 --encoding 指定编码"
    )


def _codec_for(encoding: str) -> str:
    name = encoding.strip().lower().replace("_", "-")
    if name in _GB_FAMILY:
        return "gb18030"
    if name in ("utf8", "utf-8"):
        return "utf-8"
    if name in ("utf-8-sig", "utf8-sig"):
        return "utf-8-sig"
    raise ReadError(f"不支持的编码 {encoding}，可选：{'、'.join(ENCODINGS)}")


def _sniff_delimiter(text: str) -> str:
    first_line = text.split("\n", 1)[0]
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def _find_header(rows: Iterator[list[str]], path: Path) -> tuple[int, HeaderMapping]:
    """Return the 1-based number of the header row and its mapping."""
    problem: HeaderError | None = None
    fallback: tuple[int, HeaderMapping] | None = None
    for number, cells in enumerate(rows, start=1):
        if number > _HEADER_SEARCH_ROWS:
            break
        if not any(cell.strip() for cell in cells):
            continue
        try:
            mapping = map_headers(cells)
        except HeaderError as exc:
            problem = problem or exc
            continue
        # A title row may contain one known word; a header row names several fields.
        if sum(key is not None for key in mapping.keys) >= 3:
            return number, mapping
        fallback = fallback or (number, mapping)
    if fallback is not None:
        return fallback
    if problem is not None:
        raise ReadError(f"{path.name} 的表头有误：{problem.reason}")
    raise ReadError(
        f"{path.name} 的前{_HEADER_SEARCH_ROWS}行中没有找到表头。第一行应为申请表的栏目名"
        "（学生姓名、身份证号、现居住地址……）或英文字段名（student_name……）"
    )


def _load_worksheet(path: Path, sheet: str | None) -> Any:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        if sheet is None:
            return workbook.get_sheet_by_index(0)
        if sheet in workbook.sheet_names:
            return workbook.get_sheet_by_name(sheet)
    except CalamineError as exc:
        raise ReadError(
            f"无法读取 XLSX 文件 {path.name}：{exc}。请确认文件未损坏"
        ) from exc
    raise ReadError(
        f"{path.name} 中没有工作表“{sheet}”，可选：{'、'.join(workbook.sheet_names)}"
    )


def _xlsx_rows(path: Path, worksheet: Any) -> Iterator[list[str]]:
    from python_calamine import CalamineError

    try:
        for cells in worksheet.iter_rows():
            # Most cells are text already; only the others need cell_text.
            yield [cell if cell.__class__ is str else cell_text(cell) for cell in cells]
    except CalamineError as exc:
        raise ReadError(
            f"无法读取 XLSX 文件 {path.name}：{exc}。请确认文件未损坏"
        ) from exc


def cell_text(value: object) -> str:
    """Return a cell as the text a spreadsheet displays, keeping damage visible."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, int):
        value = float(value) if abs(value) >= _INEXACT_NUMBER else value
        if isinstance(value, int):
            return str(value)
    if isinstance(value, float):
        if abs(value) >= _INEXACT_NUMBER:
            return f"{value:.14E}"
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


_EMPTY_MAPPING = HeaderMapping((), (), ())
