"""The one table that maps file headers (form labels or English names) to field keys.

The two application forms repeat the bare labels 姓名, 身份证号, 与学生关系 and
手机号码 under the student, the guardian and the emergency contact. A bare label
is therefore resolved by the section that the columns before it opened: the
student's until a guardian column appears, then the guardian's until an emergency
contact column appears.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

# Canonical field keys in form order, shared by import, feed and simulator.
FIELDS: tuple[str, ...] = (
    "student_name",
    "student_id_number",
    "address",
    "preferential_policy",
    "county",
    "preferred_school",
    "primary_school",
    "guardian_name",
    "guardian_id_number",
    "guardian_relation",
    "guardian_mobile",
    "property_certificate_no",
    "permit_issued_on",
    "permit_expires_on",
    "permit_authority",
    "permit_address",
    "emergency_name",
    "emergency_id_number",
    "emergency_relation",
    "emergency_mobile",
    "consent",
    "submitted_at",
)

# Staff-facing label of each field, used in error messages and error files.
FIELD_LABELS: dict[str, str] = {
    "student_name": "学生姓名",
    "student_id_number": "学生身份证号",
    "address": "现居住地址",
    "preferential_policy": "享受优抚政策情况",
    "county": "预报名区县",
    "preferred_school": "预报名学校",
    "primary_school": "毕业小学",
    "guardian_name": "监护人姓名",
    "guardian_id_number": "监护人身份证号",
    "guardian_relation": "监护人与学生关系",
    "guardian_mobile": "监护人手机号码",
    "property_certificate_no": "产权证编号",
    "permit_issued_on": "居住证签发日期",
    "permit_expires_on": "居住证有效日期",
    "permit_authority": "居住证签发机关",
    "permit_address": "居住证登记现居住地",
    "emergency_name": "紧急联系人姓名",
    "emergency_id_number": "紧急联系人身份证号",
    "emergency_relation": "紧急联系人与学生关系",
    "emergency_mobile": "紧急联系人手机号码",
    "consent": "数据查询授权",
    "submitted_at": "申报时间",
    "submission_id": "平台申报编号",
}

# Optional key for the platform's submission id; it makes a feed item idempotent.
SUBMISSION_ID = "submission_id"

# Header of the column that error files add; a re-import ignores it.
ERROR_COLUMN = "错误说明"

# Headers read but not stored: derived from the ID number, or written by us.
IGNORED_HEADERS = frozenset(
    {"序号", "性别", "年龄", "出生日期", ERROR_COLUMN, "error", "errors", "row", "行号"}
)

# Unambiguous headers: form labels, their common export variants and English keys.
_ALIASES: dict[str, tuple[str, ...]] = {
    "student_name": ("学生姓名", "儿童姓名", "学生名字"),
    "student_id_number": ("学生身份证号", "学生身份证号码", "儿童身份证号"),
    "address": ("现居住地址", "现住址", "家庭住址", "居住地址"),
    "preferential_policy": ("享受优抚政策情况", "优抚政策", "享受优抚政策"),
    "county": ("预报名区县", "报名区县", "区县"),
    "preferred_school": ("预报名学校", "报名学校", "意向学校"),
    "primary_school": ("毕业小学", "就读小学", "原就读小学", "小学学校"),
    "guardian_name": ("监护人姓名", "监护人"),
    "guardian_id_number": ("监护人身份证号", "监护人身份证号码"),
    "guardian_relation": ("监护人与学生关系", "监护人关系"),
    "guardian_mobile": ("监护人手机号码", "监护人手机号", "监护人电话", "联系电话"),
    "property_certificate_no": (
        "产权证编号",
        "不动产权证编号",
        "产权证号",
        "不动产权证号",
    ),
    "permit_issued_on": ("居住证签发日期",),
    "permit_expires_on": ("居住证有效日期", "居住证有效期至", "居住证到期日期"),
    "permit_authority": ("居住证签发机关",),
    "permit_address": ("居住证登记现居住地", "居住证登记地址", "居住证地址"),
    "emergency_name": ("紧急联系人姓名", "紧急联系人"),
    "emergency_id_number": ("紧急联系人身份证号", "紧急联系人身份证号码"),
    "emergency_relation": ("紧急联系人与学生关系", "紧急联系人关系"),
    "emergency_mobile": ("紧急联系人手机号码", "紧急联系人手机号", "紧急联系人电话"),
    "consent": ("数据查询授权", "授权查询", "同意数据查询", "是否授权"),
    "submitted_at": ("申报时间", "申报日期", "提交时间", "申请时间"),
    "submission_id": ("平台申报编号", "申报编号"),
}

# Bare labels that the forms repeat per person, resolved by the current section.
_SECTIONED: dict[str, str] = {
    "姓名": "name",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "与学生关系": "relation",
    "关系": "relation",
    "手机号码": "mobile",
    "手机号": "mobile",
}

_SECTION_ORDER = ("student", "guardian", "emergency")


def _clean(header: str) -> str:
    """Fold full-width characters and drop spaces, asterisks and brackets of notes."""
    text = unicodedata.normalize("NFKC", header).strip().lstrip("\ufeff")
    text = re.sub(r"\((必填|选填|可选|自动生成)\)", "", text)
    return re.sub(r"[\s*:：]", "", text)


_LOOKUP: dict[str, str] = {}
for _key, _labels in _ALIASES.items():
    _LOOKUP[_key.lower()] = _key
    for _label in _labels:
        _LOOKUP[_clean(_label)] = _key


@dataclass(frozen=True)
class HeaderMapping:
    """The field key of each column (None for a column that is not stored)."""

    headers: tuple[str, ...]
    keys: tuple[str | None, ...]
    unknown: tuple[str, ...]

    @cached_property
    def _stored_columns(self) -> tuple[tuple[int, str], ...]:
        return tuple(
            (index, key) for index, key in enumerate(self.keys) if key is not None
        )

    def to_row(self, cells: list[str]) -> dict[str, str]:
        """Build a field-key dict from one row's cells; short rows count as empty."""
        if len(cells) >= len(self.keys):
            if len(self._stored_columns) == len(self.keys):
                # Cells past the last header are not stored.
                return dict(zip(self.keys, cells, strict=False))  # type: ignore[arg-type]
            return {key: cells[index] for index, key in self._stored_columns}
        row: dict[str, str] = {}
        for index, key in enumerate(self.keys):
            if key is not None:
                row[key] = cells[index] if index < len(cells) else ""
        return row


class HeaderError(ValueError):
    """A header line that cannot be mapped; `reason` is staff-facing Chinese text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def map_headers(headers: list[str]) -> HeaderMapping:
    """Map each header to a field key, raising HeaderError on a column used twice."""
    section = "student"
    keys: list[str | None] = []
    unknown: list[str] = []
    seen: dict[str, str] = {}
    for header in headers:
        cleaned = _clean(header)
        key: str | None = _LOOKUP.get(cleaned) or _LOOKUP.get(cleaned.lower())
        if key is None and cleaned in _SECTIONED:
            # A bare label already used in this section starts the next person's columns.
            for candidate_section in _SECTION_ORDER[_SECTION_ORDER.index(section) :]:
                key = _sectioned_key(candidate_section, _SECTIONED[cleaned])
                if key not in seen:
                    break
        if key is None:
            if (
                cleaned
                and cleaned not in IGNORED_HEADERS
                and cleaned.lower() not in IGNORED_HEADERS
            ):
                unknown.append(header)
            keys.append(None)
            continue
        section = _section_of(key) or section
        if key in seen:
            raise HeaderError(
                f"列“{seen[key]}”和列“{header}”都对应字段“{FIELD_LABELS[key]}”，"
                "请删除或改名其中一列后重新导入"
            )
        seen[key] = header
        keys.append(key)
    if not seen:
        raise HeaderError(
            "表头中没有可识别的列。第一行应为申请表的栏目名（如 学生姓名、身份证号）"
            "或英文字段名（如 student_name）"
        )
    return HeaderMapping(tuple(headers), tuple(keys), tuple(unknown))


def _sectioned_key(section: str, suffix: str) -> str:
    if section == "student":
        # The student has no relation or mobile: those bare labels are the guardian's.
        return (
            f"student_{suffix}"
            if suffix in ("name", "id_number")
            else f"guardian_{suffix}"
        )
    return f"{section}_{suffix}"


def _section_of(key: str) -> str | None:
    if (
        key.startswith("guardian_")
        or key == "property_certificate_no"
        or key.startswith("permit_")
    ):
        return "guardian"
    if key.startswith("emergency_"):
        return "emergency"
    return None
