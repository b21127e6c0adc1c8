"""Repair of what spreadsheets and typing do to values, before validation.

Each function takes the text of one cell and returns the normalised value; the
parsers raise ValueProblem with a Chinese message and fix for staff.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from console.rules.masking import mask_id_number

# Excel's day 0 for serial dates (the 1900 system, with its leap-year bug folded in).
EXCEL_EPOCH = date(1899, 12, 30)
# Serials between these bounds are read as dates: 1927-05-18 to 2099-12-31. Smaller
# numbers are more likely a typed year or a typo than a date in an application.
_SERIAL_RANGE = (10000, 73415)

# Characters used in place of the middle dot (U+00B7) of minority and foreign names.
_MIDDLE_DOTS = re.compile(
    r"\s*[\u00b7\u0387\u2022\u2027\u2219\u22c5\u30fb\uff65\u25cf\u2024.。．]\s*"
)
_SPACES = re.compile(r"\s+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?E[+-]?\d+$")
_NUMERIC_FLOAT = re.compile(r"^\d{15,18}\.0+$")
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_SERIAL = re.compile(r"\d{1,5}(\.\d+)?")
_DATETIME_FIX = "改为 YYYY-MM-DD HH:MM:SS 格式的有效时间，如 2025-07-01 08:30:00"
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$")


class ValueProblem(ValueError):
    """A value that cannot be used; `message` states the problem and `fix` the remedy."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def clean_text(raw: str | None) -> str:
    """Fold full-width letters, digits and spaces (NFKC) and collapse whitespace."""
    if not raw:
        return ""
    text = raw if isinstance(raw, str) else str(raw)
    # Most cells are already clean; the checks below are cheaper than rewriting them.
    # ASCII text is always NFKC-normalised.
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
    # Every whitespace character but the space is unprintable, so this finds each
    # run of whitespace that is not a single space.
    if "  " in text or not text.isprintable():
        text = _SPACES.sub(" ", text)
    return text.strip()


def clean_row(row: Mapping[str, str | None]) -> dict[str, str]:
    """Return the row with `clean_text` applied to every value.

    The row is checked whole first. Under NFKC "|" never combines with a
    neighbour, so cells joined by it normalise separately. When the joined row is
    normalised, printable and free of double spaces, each cell needs only `strip`.
    """
    try:
        joined = "|".join(row.values())  # type: ignore[arg-type]
    except TypeError:  # a None or a number among the values
        return {key: clean_text(value) for key, value in row.items()}
    if (
        (joined.isascii() or unicodedata.is_normalized("NFKC", joined))
        and "  " not in joined
        and joined.isprintable()
    ):
        if " |" in joined or "| " in joined or joined[:1] == " " or joined[-1:] == " ":
            return {key: value.strip() for key, value in row.items()}  # type: ignore[union-attr]
        return dict(row)  # type: ignore[arg-type]  # no cell starts or ends with a space
    return {key: clean_text(value) for key, value in row.items()}


def normalize_name(raw: str | None, *, cleaned: bool = False) -> str:
    """Return a person's name without spaces and with U+00B7 as its middle dot.

    With `cleaned` the text is taken as already passed through `clean_text`.
    """
    text = (raw or "") if cleaned else clean_text(raw)
    if not text:
        return ""
    if _HAN.search(text):
        text = text.replace(" ", "")
        text = _MIDDLE_DOTS.sub("\u00b7", text).strip("\u00b7")
    return text


def normalize_id_text(raw: str | None, *, cleaned: bool = False) -> str:
    """Return an ID number in upper case without spaces; raise ValueProblem if a spreadsheet damaged it.

    A spreadsheet keeps only 15 significant digits of a number, so an ID number
    stored as a number ends in zeros that may still pass the check character.
    Such a value is rejected even when its check character is valid.
    With `cleaned` the text is taken as already passed through `clean_text`.
    """
    text = (raw or "") if cleaned else clean_text(raw)
    text = text.replace(" ", "").replace("-", "").lstrip("'").upper()
    # Both damaged forms contain an E or a decimal point; most values have neither.
    if ("E" in text or "." in text) and (
        _SCIENTIFIC.match(text) or _NUMERIC_FLOAT.match(text)
    ):
        # The damaged text still contains the first 15 digits, so it is masked.
        raise ValueProblem(
            f"身份证号“{mask_id_number(text)}”被表格软件按数字保存，后几位已丢失",
            "在原始表格中把该列设为“文本”格式，按证件重新录入完整的18位号码后再导入",
        )
    return text


def parse_date(raw: str | None, *, cleaned: bool = False) -> date:
    """Read 2018-09-01, 2018/9/1, 2018.9.1, 2018年9月1日, 20180901 or an Excel serial.

    With `cleaned` the text is taken as already passed through `clean_text`.
    """
    text = ((raw or "") if cleaned else clean_text(raw)).replace(" ", "")
    if not text:
        raise ValueProblem("日期为空", "填写日期，格式如 2018-09-01")
    if len(text) == 10 and _is_iso_date(text):
        # The common YYYY-MM-DD form; anything it rejects takes the general path.
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    if text[:10].count("-") == 2 and ("T" in text or len(text) > 10):
        text = re.split(r"[T ]", text, maxsplit=1)[0] if "T" in text else text[:10]
    serial = _excel_serial(text)
    if serial is not None:
        return EXCEL_EPOCH + timedelta(days=int(serial))
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return date(year, month, day)
            except ValueError:
                break
    raise ValueProblem(
        f"日期“{clean_text(raw)}”无法识别或不存在",
        "改为 YYYY-MM-DD 格式的有效日期，如 2018-09-01",
    )


def parse_local_datetime(raw: str | None, *, cleaned: bool = False) -> datetime:
    """Read a local date and time (2025-07-01 08:27:21, 2025/7/1 8:27 or a serial); naive.

    With `cleaned` the text is taken as already passed through `clean_text`.
    """
    text = (raw or "") if cleaned else clean_text(raw)
    if not text:
        raise ValueProblem("时间为空", "填写时间，格式如 2025-07-01 08:30:00")
    if len(text) == 19 and _is_iso_date(text[:10]) and text[10] == " ":
        # The platform's YYYY-MM-DD HH:MM:SS; anything it rejects takes the general
        # path, which explains the problem.
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    serial = _excel_serial(text.replace(" ", ""))
    if serial is not None:
        # A serial is a fraction of days, so round to the nearest whole second.
        start = datetime.combine(EXCEL_EPOCH, datetime.min.time())
        return start + timedelta(seconds=round(serial * 86400))
    parts = text.replace("T", " ").split(" ")
    try:
        day = parse_date(parts[0], cleaned=True)
    except ValueProblem:
        # The date's own fix shows a bare date, but this field needs a time too.
        raise ValueProblem(f"时间“{text}”无法识别或不存在", _DATETIME_FIX) from None
    if len(parts) == 1:
        return datetime.combine(day, datetime.min.time())
    match = _TIME.match("".join(parts[1:]))
    if match is None:
        raise ValueProblem(f"时间“{text}”无法识别", _DATETIME_FIX)
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueProblem(f"时间“{text}”不存在", _DATETIME_FIX)
    return datetime(day.year, day.month, day.day, hour, minute, second)


def _is_iso_date(text: str) -> bool:
    """Tell whether 10 characters read YYYY-MM-DD (not an ISO week date, say)."""
    return (
        text[4] == "-"
        and text[7] == "-"
        and text[:4].isdigit()
        and text[5:7].isdigit()
        and text[8:].isdigit()
    )


def _excel_serial(text: str) -> float | None:
    """Return the serial as a number when `text` looks like an Excel date serial."""
    if not _SERIAL.fullmatch(text):
        return None
    value = float(text)
    low, high = _SERIAL_RANGE
    return value if low <= value <= high else None


_CONSENT = {
    "是": True,
    "同意": True,
    "已授权": True,
    "授权": True,
    "y": True,
    "yes": True,
    "true": True,
    "1": True,
    "否": False,
    "不同意": False,
    "未授权": False,
    "n": False,
    "no": False,
    "false": False,
    "0": False,
    "": False,
}


def parse_consent(raw: str | None, *, cleaned: bool = False) -> bool:
    """Return True for 是/同意 and False for 否 or an empty cell."""
    text = ((raw or "") if cleaned else clean_text(raw)).lower()
    if text not in _CONSENT:
        raise ValueProblem(f"数据查询授权“{clean_text(raw)}”无法识别", "填写“是”或“否”")
    return _CONSENT[text]


POLICIES = ("无", "高层次人才子女", "其他优抚政策子女")


def parse_policy(raw: str | None, *, cleaned: bool = False) -> str:
    """Return one of 无, 高层次人才子女, 其他优抚政策子女; an empty cell is 无."""
    text = ((raw or "") if cleaned else clean_text(raw)).replace(" ", "")
    if text in ("", "无", "否", "none"):
        return "无"
    for policy in POLICIES[1:]:
        if text == policy or text == policy.removesuffix("子女"):
            return policy
    raise ValueProblem(
        f"优抚政策“{text}”不是可选项", f"填写以下之一：{'、'.join(POLICIES)}"
    )
