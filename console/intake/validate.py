"""Validation of one application row: field by field, every problem reported at once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from console.intake.headers import FIELD_LABELS, SUBMISSION_ID
from console.intake.normalize import (
    ValueProblem,
    clean_row,
    normalize_id_text,
    normalize_name,
    parse_consent,
    parse_date,
    parse_local_datetime,
    parse_policy,
)
from console.models import Stage, Status
from console.rules.idnumber import IdNumber, InvalidIdNumber, age_on, parse_id_number
from console.rules.masking import mask_id_number, mask_mobile
from console.rules.mobile import InvalidMobile, normalize_mobile

LOCAL_TIME = ZoneInfo("Asia/Shanghai")
OFFLINE_REASON = "未授权数据查询，需线下核验"
SUBMITTED_REASON = "已受理，待调取政务数据核验"
OVER_AGE_REASON = "超龄，需教育局确认"
UNDER_AGE_REASON = "未到入学年龄，需教育局确认"
# Status reason of each age flag; the bureau decides on such children.
_FLAG_REASONS = {"over_age": OVER_AGE_REASON, "under_age": UNDER_AGE_REASON}
PERMIT_FIELDS = (
    "permit_issued_on",
    "permit_expires_on",
    "permit_authority",
    "permit_address",
)
_NO_PERMIT = dict.fromkeys(PERMIT_FIELDS)
# The name, ID number, relation and mobile fields of the guardian and the emergency
# contact.
_CONTACT_FIELDS = tuple(
    (f"{person}_name", f"{person}_id_number", f"{person}_relation", f"{person}_mobile")
    for person in ("guardian", "emergency")
)
REQUIRED_FIELDS = (
    "student_name",
    "student_id_number",
    "address",
    "county",
    "preferred_school",
    "guardian_name",
    "guardian_id_number",
    "guardian_relation",
    "guardian_mobile",
    "emergency_name",
    "emergency_id_number",
    "emergency_relation",
    "emergency_mobile",
)

# Maximum lengths of free-text fields, in characters after whitespace is collapsed.
# They are generous for real values (a transliterated minority name with its middle
# dots, a full address down to the flat) and keep pasted junk out of the database.
MAX_LENGTHS: dict[str, int] = {
    "student_name": 30,
    "address": 100,
    "county": 20,
    "preferred_school": 50,
    "primary_school": 50,
    "guardian_name": 30,
    "guardian_relation": 10,
    "property_certificate_no": 50,
    "permit_authority": 50,
    "permit_address": 100,
    "emergency_name": 30,
    "emergency_relation": 10,
    SUBMISSION_ID: 64,
}


# Personal numbers that may end up inside a message: 18- and 15-digit ID numbers,
# ID numbers that a spreadsheet turned into scientific notation, and mobiles.
_ID_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z.])(?:\d{17}[\dXx]|\d{15}|\d\.\d{5,}E\+?\d{1,2})(?![0-9A-Za-z])",
    re.IGNORECASE,
)
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_DIGIT = re.compile(r"\d")


def mask_numbers_in(text: str) -> str:
    """Mask every ID number and mobile inside a staff-facing text."""
    if not _DIGIT.search(text):
        return text
    text = _ID_IN_TEXT.sub(lambda match: mask_id_number(match[0]), text)
    return _MOBILE_IN_TEXT.sub(lambda match: mask_mobile(match[0]), text)


@dataclass(frozen=True)
class RowError:
    """One problem of one row: where it is, what is wrong and how to fix it.

    `value` is the raw cell, which staff see only through a masker. `message`
    and `fix` are shown as they are, so any personal number in them is masked
    when the error is created.
    """

    row: int
    field: str
    value: str
    message: str
    fix: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", mask_numbers_in(self.message))
        object.__setattr__(self, "fix", mask_numbers_in(self.fix))

    @property
    def label(self) -> str:
        return FIELD_LABELS.get(self.field, self.field)

    def describe(self) -> str:
        """Return the Chinese one-liner used on screen and in the error column."""
        return f"{self.label}：{self.message}；{self.fix}"


@dataclass(frozen=True)
class SchoolRef:
    code: str
    name: str
    stage: str


@dataclass
class RowContext:
    """The window, county and schools that a row is validated against."""

    county_code: str
    county_name: str
    stage: str
    age_cutoff: date
    entry_age: int
    today: date
    schools: list[SchoolRef]  # the county's schools of the window's stage
    primary_schools: dict[str, str] = field(
        default_factory=dict
    )  # any county: code -> name
    county_names: dict[str, str] = field(default_factory=dict)  # code -> name

    def __post_init__(self) -> None:
        self._school_by_key: dict[str, str] = {}
        for school in self.schools:
            self._school_by_key[school.code] = school.code
            self._school_by_key[school.name] = school.code
        self._primary_by_key = {
            **{c: c for c in self.primary_schools},
            **{n: c for c, n in self.primary_schools.items()},
        }

    def resolve_school(self, text: str) -> str | None:
        """Return the code of the county school named or coded by `text`."""
        key = (
            text.replace(" ", "").upper()
            if text[:1].isdigit()
            else text.replace(" ", "")
        )
        if key in self._school_by_key:
            return self._school_by_key[key]
        # Staff often leave out the county prefix: 人民路小学 for 白银区人民路小学.
        matches = [
            s.code for s in self.schools if s.name.endswith(key) and len(key) >= 4
        ]
        return matches[0] if len(matches) == 1 else None

    def resolve_primary_school(self, text: str) -> str | None:
        return self._primary_by_key.get(text.replace(" ", ""))


def validate_row(
    row: Mapping[str, str | None], row_number: int, context: RowContext
) -> tuple[dict[str, Any], list[RowError]]:
    """Check and normalise one row, returning its Application values and its problems."""
    return validate_clean_row(clean_row(row), row_number, context)


def validate_clean_row(
    row: dict[str, str], row_number: int, context: RowContext
) -> tuple[dict[str, Any], list[RowError]]:
    """Do what `validate_row` does, for a row that already went through `clean_row`."""
    check = _RowCheck(row, row_number)
    values: dict[str, Any] = {
        "county_code": context.county_code,
        "stage": context.stage,
    }
    flags: list[str] = []

    if not all(map(row.get, REQUIRED_FIELDS)):
        for key in REQUIRED_FIELDS:
            if not row.get(key, ""):
                check.fail(key, "不能为空", f"填写{FIELD_LABELS[key]}")
    too_long = _check_lengths(check, row)

    # Student: the ID number gives the birth date and gender, never typed separately.
    values["student_name"] = normalize_name(row.get("student_name"), cleaned=True)
    student_id = check.id_number("student_id_number", context.today)
    if student_id is not None:
        birth_date = student_id.birth_date
        values["student_id_number"] = student_id.value
        values["gender"] = student_id.gender
        values["birth_date"] = birth_date
        flags.extend(_check_age(check, birth_date, context))
    values["address"] = row.get("address", "")
    values["preferential_policy"] = (
        check.parse("preferential_policy", parse_policy) or "无"
    )

    county = row.get("county", "").replace(" ", "")
    if (
        county
        and county not in (context.county_code, context.county_name)
        and "county" not in too_long
    ):
        check.fail(
            "county",
            f"不是本次导入的区县“{context.county_name}”",
            f"把该行交由{county}导入，或改为{context.county_name}",
        )
    school_text = row.get("preferred_school", "")
    if school_text and "preferred_school" not in too_long:
        school_code = context.resolve_school(school_text)
        if school_code is None:
            names = "、".join(s.name for s in context.schools) or "（无）"
            check.fail(
                "preferred_school",
                f"不是{context.county_name}的学校",
                f"改为以下学校之一：{names}",
            )
        values["preferred_school_code"] = school_code
    if context.stage == Stage.JUNIOR:
        primary_text = row.get("primary_school", "")
        if not primary_text:
            check.fail(
                "primary_school", "初中报名须填写毕业小学", "填写孩子就读的小学名称"
            )
        elif "primary_school" not in too_long:
            code = context.resolve_primary_school(primary_text)
            values["primary_school_code"] = code or primary_text
            if code is None:
                flags.append("primary_school_unlisted")

    # Guardian and emergency contact.
    for name_key, id_key, relation_key, mobile_key in _CONTACT_FIELDS:
        values[name_key] = normalize_name(row.get(name_key), cleaned=True)
        person_id = check.id_number(id_key, context.today)
        if person_id is not None:
            values[id_key] = person_id.value
            if student_id is not None and person_id.value == student_id.value:
                person = FIELD_LABELS[name_key].removesuffix("姓名")
                check.fail(id_key, "与学生身份证号相同", f"填写{person}本人的身份证号")
        values[relation_key] = row.get(relation_key, "").replace(" ", "")
        values[mobile_key] = check.mobile(mobile_key)
    values["property_certificate_no"] = row.get("property_certificate_no", "") or None

    # Residence permit: the non-local form has it, and then all four fields are required.
    values.update(_NO_PERMIT)
    if any(map(row.get, PERMIT_FIELDS)):
        _check_permit(check, row, values, context)

    consent = check.parse("consent", parse_consent)
    values["consent"] = bool(consent)
    values["status"] = Status.SUBMITTED if consent else Status.OFFLINE
    reasons = [] if consent else [OFFLINE_REASON]
    reasons += [_FLAG_REASONS[flag] for flag in flags if flag in _FLAG_REASONS]
    values["status_reason"] = "；".join(reasons) or SUBMITTED_REASON
    submitted = row.get("submitted_at", "")
    local = check.parse("submitted_at", parse_local_datetime) if submitted else None
    values["submitted_at"] = (
        local.replace(tzinfo=LOCAL_TIME).astimezone(UTC) if local else datetime.now(UTC)
    )
    values["flags"] = " ".join(flags)
    reference = row.get(SUBMISSION_ID, "")
    values["external_ref"] = reference or None
    return values, check.errors


def _check_lengths(check: _RowCheck, row: dict[str, str]) -> set[str]:
    """Report each free-text value longer than its maximum; return their keys."""
    too_long = {
        key for key, limit in MAX_LENGTHS.items() if len(row.get(key) or "") > limit
    }
    if not too_long:
        return too_long
    for key, limit in MAX_LENGTHS.items():
        if key in too_long:
            check.fail(
                key,
                f"长度为{len(row[key])}个字符，超过上限{limit}个字符",
                f"把{FIELD_LABELS.get(key, key)}缩短到{limit}个字符以内",
            )
    return too_long


def _check_age(check: _RowCheck, birth_date: date, context: RowContext) -> list[str]:
    """Reject an under-age grade-1 child, and flag other ages for the bureau to review."""
    expected = (
        context.entry_age if context.stage == Stage.PRIMARY else context.entry_age + 6
    )
    age = age_on(birth_date, context.age_cutoff)
    if age < expected and context.stage == Stage.PRIMARY:
        latest = context.age_cutoff.replace(year=context.age_cutoff.year - expected)
        check.fail(
            "student_id_number",
            f"出生日期{birth_date:%Y-%m-%d}晚于入学年龄截止日，"
            f"{context.age_cutoff:%Y-%m-%d}时未满{expected}周岁",
            f"本年度只接收{latest:%Y-%m-%d}及以前出生的儿童，请核对身份证号或下一年度报名",
        )
        return []
    if age < expected:
        return ["under_age"]
    if age > expected:
        return ["over_age"]
    return []


def _check_permit(
    check: _RowCheck, row: dict[str, str], values: dict[str, Any], context: RowContext
) -> None:
    for key in PERMIT_FIELDS:
        if not row.get(key, ""):
            check.fail(
                key, "非本片区户籍须填写居住证的全部四项", f"填写{FIELD_LABELS[key]}"
            )
    issued = (
        check.parse("permit_issued_on", parse_date)
        if row.get("permit_issued_on", "")
        else None
    )
    expires = (
        check.parse("permit_expires_on", parse_date)
        if row.get("permit_expires_on", "")
        else None
    )
    values["permit_issued_on"] = issued
    values["permit_expires_on"] = expires
    values["permit_authority"] = row.get("permit_authority", "")
    values["permit_address"] = row.get("permit_address", "")
    if issued and expires and issued >= expires:
        check.fail(
            "permit_expires_on",
            f"有效日期{expires:%Y-%m-%d}不晚于签发日期{issued:%Y-%m-%d}",
            "核对居住证上的签发日期和有效日期",
        )
    elif issued and issued > context.age_cutoff:
        check.fail(
            "permit_issued_on",
            f"签发日期{issued:%Y-%m-%d}晚于截止日{context.age_cutoff:%Y-%m-%d}",
            "截止日前取得的居住证才有效，请核对签发日期",
        )
    elif expires and expires < context.age_cutoff:
        check.fail(
            "permit_expires_on",
            f"居住证于{expires:%Y-%m-%d}到期，截止日{context.age_cutoff:%Y-%m-%d}时已失效",
            "请监护人续签居住证后填写新的日期",
        )


class _RowCheck:
    """Collector of the problems of one row while its fields are parsed."""

    def __init__(self, row: dict[str, str], row_number: int) -> None:
        self.row = row
        self.row_number = row_number
        self.errors: list[RowError] = []
        self._failed: set[str] = set()

    def fail(self, key: str, message: str, fix: str) -> None:
        if key in self._failed and message.endswith("不能为空"):
            return
        self._failed.add(key)
        self.errors.append(
            RowError(self.row_number, key, self.row.get(key, ""), message, fix)
        )

    def parse(self, key: str, parser: Any) -> Any:
        try:
            return parser(self.row.get(key), cleaned=True)
        except ValueProblem as problem:
            self.fail(key, problem.message, problem.fix)
            return None

    def id_number(self, key: str, today: date) -> IdNumber | None:
        raw = self.row.get(key)
        if not raw:
            return None
        try:
            return parse_id_number(normalize_id_text(raw, cleaned=True), today=today)
        except ValueProblem as problem:
            self.fail(key, problem.message, problem.fix)
        except InvalidIdNumber as exc:
            self.fail(key, exc.reason, _id_fix(exc.value))
        return None

    def mobile(self, key: str) -> str:
        raw = self.row.get(key)
        if not raw:
            return ""
        try:
            return normalize_mobile(raw)
        except InvalidMobile as exc:
            self.fail(key, exc.reason, "填写11位手机号码，如 13812345678")
            return ""


def _id_fix(value: str) -> str:
    if len(value) == 18 and value.endswith("000"):
        return "末几位为0，可能被表格软件按数字保存后丢失；请按证件重新录入并把该列设为文本格式"
    return "按证件核对并改正身份证号"
