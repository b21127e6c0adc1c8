"""Header mapping, value repair and row validation, without a database.

Every name, ID number and mobile here is made up.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from console.intake.headers import FIELD_LABELS, HeaderError, map_headers
from console.intake.normalize import (
    ValueProblem,
    clean_row,
    clean_text,
    normalize_id_text,
    normalize_name,
    parse_consent,
    parse_date,
    parse_local_datetime,
    parse_policy,
)
from console.intake.reader import cell_text
from console.intake.validate import (
    MAX_LENGTHS,
    OFFLINE_REASON,
    OVER_AGE_REASON,
    RowContext,
    RowError,
    SchoolRef,
    validate_row,
)
from console.models import Stage, Status
from console.rules.idnumber import make_id_number

CUTOFF = date(2025, 8, 31)
CHILD_ID = make_id_number("620402", date(2018, 12, 15), 171)
GUARDIAN_ID = make_id_number("620402", date(1986, 3, 12), 101)
CONTACT_ID = make_id_number("620402", date(1956, 6, 22), 2)


def _context(stage: str = Stage.PRIMARY) -> RowContext:
    schools = [
        SchoolRef("620402P01", "白银区人民路小学", "primary"),
        SchoolRef("620402P02", "白银区公园路小学", "primary"),
    ]
    return RowContext(
        county_code="620402",
        county_name="白银区",
        stage=stage,
        age_cutoff=CUTOFF,
        entry_age=6,
        today=date(2025, 7, 1),
        schools=schools if stage == Stage.PRIMARY else [
            SchoolRef("620402J01", "白银区第一初级中学", "junior")
        ],
        primary_schools={"620402P01": "白银区人民路小学"},
    )  # fmt: skip


def _row(**overrides: str) -> dict[str, str]:
    row = {
        "student_name": "王测试",
        "student_id_number": CHILD_ID,
        "address": "白银区公园路街道建银社区12号楼",
        "preferential_policy": "无",
        "county": "白银区",
        "preferred_school": "白银区公园路小学",
        "guardian_name": "王测父",
        "guardian_id_number": GUARDIAN_ID,
        "guardian_relation": "父亲",
        "guardian_mobile": "13800001234",
        "property_certificate_no": "甘(2016)白银市不动产权第0000001号",
        "emergency_name": "赵测祖",
        "emergency_id_number": CONTACT_ID,
        "emergency_relation": "祖母",
        "emergency_mobile": "13900005678",
        "consent": "是",
        "submitted_at": "2025-07-01 08:27:21",
    }
    row.update(overrides)
    return row


def _fields_of(errors: list) -> list[str]:
    return [error.field for error in errors]


# Header mapping


def test_headers_prefixed_labels_of_export() -> None:
    mapping = map_headers(["学生姓名", "身份证号", "监护人姓名", "监护人身份证号",
                           "紧急联系人手机号码", "数据查询授权", "申报时间"])  # fmt: skip
    assert mapping.keys == (
        "student_name", "student_id_number", "guardian_name", "guardian_id_number",
        "emergency_mobile", "consent", "submitted_at",
    )  # fmt: skip


def test_headers_bare_form_labels_by_section() -> None:
    headers = ["学生姓名", "身份证号", "现居住地址", "监护人姓名", "身份证号",
               "与学生关系", "手机号码", "紧急联系人姓名", "身份证号", "与学生关系",
               "手机号码"]  # fmt: skip
    assert map_headers(headers).keys == (
        "student_name", "student_id_number", "address", "guardian_name",
        "guardian_id_number", "guardian_relation", "guardian_mobile",
        "emergency_name", "emergency_id_number", "emergency_relation",
        "emergency_mobile",
    )  # fmt: skip


def test_headers_repeated_bare_name_moves_section() -> None:
    mapping = map_headers(["姓名", "身份证号", "姓名", "身份证号", "姓名", "身份证号"])
    assert mapping.keys == (
        "student_name", "student_id_number", "guardian_name", "guardian_id_number",
        "emergency_name", "emergency_id_number",
    )  # fmt: skip


def test_headers_english_and_full_width() -> None:
    headers = [
        "student_name",
        "Student_ID_Number",
        "预报名区县（必填）",
        "ｇｕａｒｄｉａｎ_ｍｏｂｉｌｅ",
    ]
    mapping = map_headers(headers)
    assert mapping.keys == (
        "student_name", "student_id_number", "county", "guardian_mobile"
    )  # fmt: skip


def test_headers_unknown_and_ignored_columns() -> None:
    mapping = map_headers(["学生姓名", "性别", "年龄", "备注", "错误说明"])
    assert mapping.keys == ("student_name", None, None, None, None)
    assert mapping.unknown == ("备注",)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["王测试", "女", "7"], {"student_name": "王测试", "county": "7"}),
        (["王测试", "女", "7", "多余"], {"student_name": "王测试", "county": "7"}),
        (["王测试"], {"student_name": "王测试", "county": ""}),
        ([], {"student_name": "", "county": ""}),
    ],
)
def test_headers_row_of_cells(cells: list[str], expected: dict[str, str]) -> None:
    mapping = map_headers(["学生姓名", "性别", "预报名区县"])
    assert mapping.to_row(cells) == expected


def test_headers_row_every_column_stored() -> None:
    mapping = map_headers(["学生姓名", "预报名区县"])
    assert mapping.to_row(["王测试", "白银区", "多余"]) == {
        "student_name": "王测试",
        "county": "白银区",
    }
    assert mapping.to_row(["王测试"]) == {"student_name": "王测试", "county": ""}


def test_headers_same_field_twice_rejected() -> None:
    with pytest.raises(HeaderError) as caught:
        map_headers(["学生身份证号", "student_id_number"])
    assert "学生身份证号" in caught.value.reason


# Value repair


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 62040220181215171x ", "62040220181215171X"),
        ("６２０４０２２０１８１２１５１７１Ｘ", "62040220181215171X"),
        ("620402 2018 1215 171X", "62040220181215171X"),
        ("'62040220181215171X", "62040220181215171X"),
    ],
)
def test_id_text_repaired(raw: str, expected: str) -> None:
    assert normalize_id_text(raw) == expected


@pytest.mark.parametrize("raw", ["6.20402E+17", "6.20402201812152E+17", "6.2e17",
                                 "620402201812151700.0"])  # fmt: skip
def test_id_damaged_by_spreadsheet_rejected(raw: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        normalize_id_text(raw)
    assert "后几位已丢失" in caught.value.message
    assert "文本" in caught.value.fix


def test_numeric_cell_becomes_scientific_text() -> None:
    assert cell_text(620402201812151711) == "6.20402201812152E+17"
    assert cell_text(6.204022018121517e17) == "6.20402201812152E+17"
    assert cell_text(13812345678.0) == "13812345678"
    assert cell_text(date(2018, 9, 1)) == "2018-09-01"


@pytest.mark.parametrize(
    "raw",
    ["2018-09-01", "2018/9/1", "2018.9.1", "2018年9月1日", "20180901", "43344",
     "43344.0", "2018-09-01 00:00:00", "２０１８－０９－０１"],
)  # fmt: skip
def test_date_formats(raw: str) -> None:
    assert parse_date(raw) == date(2018, 9, 1)


@pytest.mark.parametrize(
    "raw", ["2018-02-30", "09/01/2018", "明年", "2018-13-01", "2018", "99999"]
)
def test_date_invalid(raw: str) -> None:
    with pytest.raises(ValueProblem):
        parse_date(raw)


def test_local_datetime_formats() -> None:
    expected = datetime(2025, 7, 1, 8, 27, 21)
    assert parse_local_datetime("2025-07-01 08:27:21") == expected
    assert parse_local_datetime("2025/7/1 8:27:21") == expected
    assert parse_local_datetime("2025-07-01T08:27:21") == expected
    assert parse_local_datetime("45839.3522222222") == datetime(2025, 7, 1, 8, 27, 12)


@pytest.mark.parametrize(
    "raw", ["2025-07-01 24:00:00", "2025-02-30 08:00:00", "2025-W27-1 08:00:00",
            "2025-07-01 08:61:00"],
)  # fmt: skip
def test_local_datetime_invalid(raw: str) -> None:
    with pytest.raises(ValueProblem):
        parse_local_datetime(raw)


def test_date_iso_week_form_rejected() -> None:
    with pytest.raises(ValueProblem):
        parse_date("2025-W27-1")


# Cells damaged the ways spreadsheets and typing damage them, one per column.
DAMAGED_CELLS = {
    "full_width": "６２０４０２",
    "ideographic_space": "王　子涵",
    "no_break_space": "白银区\u00a0人民路",
    "tab": "人民路\t小学",
    "newline": "第1行\n第2行",
    "double_space": "a  b",
    "byte_order_mark": "\ufeff学生姓名",
    "padded": "  是 ",
    "empty": "",
    "combining_accent": "Jose\u0301",
    "zero_width_space": "张\u200b三",
}


@pytest.mark.parametrize("key", sorted(DAMAGED_CELLS))
def test_clean_row_matches_clean_text(key: str) -> None:
    row = {"name": "王测试", key: DAMAGED_CELLS[key], "school": " 人民路小学 "}
    cleaned = clean_row(row)
    for column, value in row.items():
        assert cleaned[column] == clean_text(value), column


def test_clean_row_accepts_none_and_clean_rows() -> None:
    assert clean_row({"a": None, "b": " x "}) == {"a": "", "b": "x"}
    assert clean_row({"a": " 王测试 ", "b": "2025-07-01"}) == {
        "a": "王测试",
        "b": "2025-07-01",
    }


@pytest.mark.parametrize(
    "row",
    [
        {"a": "王测试", "b": "是 "},
        {"a": "王测试", "b": " 是", "c": "否"},
        {"a": "王测试 ", "b": "是"},
        {"a": "a|b", "b": "c| d"},
        {"a": "王测试", "b": "是"},
    ],
)
def test_clean_row_strips_single_spaces(row: dict[str, str]) -> None:
    assert clean_row(row) == {key: clean_text(value) for key, value in row.items()}


@pytest.mark.parametrize(
    "raw", ["阿依古丽·买买提", "阿依古丽•买买提", "阿依古丽・买买提", "阿依古丽.买买提",
            "阿依古丽 · 买买提", "阿依古丽‧买买提", "阿依古丽．买买提", "阿依古丽∙买买提"],
)  # fmt: skip
def test_name_middle_dot_variants(raw: str) -> None:
    assert normalize_name(raw) == "阿依古丽\u00b7买买提"


def test_name_inner_spaces_dropped() -> None:
    assert normalize_name(" 王　子涵 ") == "王子涵"


def test_consent_and_policy_values() -> None:
    assert parse_consent("是") is True
    assert parse_consent("") is False
    assert parse_consent("否") is False
    with pytest.raises(ValueProblem):
        parse_consent("也许")
    assert parse_policy("") == "无"
    assert parse_policy("高层次人才") == "高层次人才子女"
    with pytest.raises(ValueProblem):
        parse_policy("军人子女")


# Row validation


def test_row_valid_derives_gender_birth_status() -> None:
    values, errors = validate_row(
        _row(student_id_number=CHILD_ID.lower()), 2, _context()
    )
    assert errors == []
    assert values["student_id_number"] == CHILD_ID
    assert values["birth_date"] == date(2018, 12, 15)
    assert values["gender"] == "男"
    assert values["preferred_school_code"] == "620402P02"
    assert values["status"] == Status.SUBMITTED
    assert values["submitted_at"].isoformat() == "2025-07-01T00:27:21+00:00"


@pytest.mark.parametrize(
    "mobile", ["+86 138 0000 1234", "0086-138-0000-1234", "138-0000-1234",
               "１３８００００１２３４"],
)  # fmt: skip
def test_row_mobile_variants(mobile: str) -> None:
    values, errors = validate_row(_row(guardian_mobile=mobile), 2, _context())
    assert errors == []
    assert values["guardian_mobile"] == "13800001234"


def test_row_bad_mobile_reported() -> None:
    _, errors = validate_row(_row(emergency_mobile="1380000123"), 7, _context())
    assert _fields_of(errors) == ["emergency_mobile"]
    assert errors[0].row == 7
    assert errors[0].value == "1380000123"
    assert "11位" in errors[0].fix


def test_row_wrong_check_character() -> None:
    wrong = CHILD_ID[:17] + ("0" if CHILD_ID[17] != "0" else "1")
    _, errors = validate_row(_row(student_id_number=wrong), 3, _context())
    assert _fields_of(errors) == ["student_id_number"]
    assert "校验位" in errors[0].message


def test_row_under_age_rejected() -> None:
    late = make_id_number("620402", date(2019, 9, 1), 12)
    _, errors = validate_row(_row(student_id_number=late), 4, _context())
    assert _fields_of(errors) == ["student_id_number"]
    assert "2019-08-31" in errors[0].fix


def test_row_over_age_flagged() -> None:
    early = make_id_number("620402", date(2018, 8, 31), 12)
    values, errors = validate_row(_row(student_id_number=early), 4, _context())
    assert errors == []
    assert values["flags"] == "over_age"


def test_row_birthday_on_cutoff_is_six() -> None:
    exact = make_id_number("620402", date(2019, 8, 31), 12)
    values, errors = validate_row(_row(student_id_number=exact), 4, _context())
    assert errors == []
    assert values["flags"] == ""


def test_row_every_missing_field_reported() -> None:
    _, errors = validate_row(
        _row(guardian_mobile="", emergency_name=" "), 5, _context()
    )
    assert _fields_of(errors) == ["guardian_mobile", "emergency_name"]


def test_row_without_consent_goes_offline() -> None:
    values, errors = validate_row(_row(consent=""), 2, _context())
    assert errors == []
    assert values["status"] == Status.OFFLINE
    assert values["status_reason"] == OFFLINE_REASON


def test_row_unknown_school_lists_schools() -> None:
    _, errors = validate_row(_row(preferred_school="白银区不存在小学"), 2, _context())
    assert _fields_of(errors) == ["preferred_school"]
    assert "白银区人民路小学" in errors[0].fix
    assert "白银区公园路小学" in errors[0].fix


def test_row_school_by_code_or_short_name() -> None:
    by_code, _ = validate_row(_row(preferred_school="620402p01"), 2, _context())
    short, _ = validate_row(_row(preferred_school="人民路小学"), 2, _context())
    assert by_code["preferred_school_code"] == "620402P01"
    assert short["preferred_school_code"] == "620402P01"


def test_row_other_county_rejected() -> None:
    _, errors = validate_row(_row(county="平川区"), 2, _context())
    assert _fields_of(errors) == ["county"]


def _permit(**overrides: str) -> dict[str, str]:
    fields = {
        "permit_issued_on": "2023/3/15",
        "permit_expires_on": "2026年3月14日",
        "permit_authority": "白银市公安局白银分局",
        "permit_address": "白银区公园路街道金岸花园9号楼",
    }
    fields.update(overrides)
    return _row(**fields)


def test_permit_valid_dates_parsed() -> None:
    values, errors = validate_row(_permit(), 2, _context())
    assert errors == []
    assert values["permit_issued_on"] == date(2023, 3, 15)
    assert values["permit_expires_on"] == date(2026, 3, 14)


def test_permit_partial_fields_reported() -> None:
    _, errors = validate_row(_permit(permit_authority=""), 2, _context())
    assert _fields_of(errors) == ["permit_authority"]


def test_permit_issued_after_expiry() -> None:
    row = _permit(permit_issued_on="2026-03-15", permit_expires_on="2025-03-14")
    _, errors = validate_row(row, 2, _context())
    assert _fields_of(errors) == ["permit_expires_on"]


def test_permit_expired_before_cutoff() -> None:
    _, errors = validate_row(_permit(permit_expires_on="2025-08-30"), 2, _context())
    assert _fields_of(errors) == ["permit_expires_on"]
    assert "续签" in errors[0].fix


def test_guardian_id_same_as_child_rejected() -> None:
    _, errors = validate_row(_row(guardian_id_number=CHILD_ID), 2, _context())
    assert _fields_of(errors) == ["guardian_id_number"]


def test_junior_needs_primary_school() -> None:
    junior_id = make_id_number("620402", date(2012, 12, 1), 33)
    row = _row(student_id_number=junior_id, preferred_school="白银区第一初级中学")
    _, missing = validate_row(row, 2, _context(Stage.JUNIOR))
    known, errors = validate_row({**row, "primary_school": "白银区人民路小学"}, 2,
                                 _context(Stage.JUNIOR))  # fmt: skip
    assert _fields_of(missing) == ["primary_school"]
    assert errors == []
    assert known["primary_school_code"] == "620402P01"


# Maximum lengths of free text


@pytest.mark.parametrize(
    "key",
    ["student_name", "guardian_name", "emergency_name", "address",
     "property_certificate_no", "guardian_relation"],
)  # fmt: skip
def test_row_overlong_text_rejected(key: str) -> None:
    limit = MAX_LENGTHS[key]
    _, errors = validate_row(_row(**{key: "测" * (limit + 1)}), 2, _context())
    assert _fields_of(errors) == [key]
    assert f"{limit + 1}个字符" in errors[0].message
    assert f"{limit}个字符" in errors[0].message
    assert FIELD_LABELS[key] in errors[0].describe()


def test_row_text_at_limit_accepted() -> None:
    row = _permit(
        address="测" * MAX_LENGTHS["address"],
        permit_address="测" * MAX_LENGTHS["permit_address"],
        permit_authority="测" * MAX_LENGTHS["permit_authority"],
    )
    values, errors = validate_row(row, 2, _context())
    assert errors == []
    assert len(values["address"]) == MAX_LENGTHS["address"]


def test_row_ten_thousand_character_address() -> None:
    _, errors = validate_row(_row(address="白" * 10_000), 2, _context())
    assert _fields_of(errors) == ["address"]
    assert "10000个字符" in errors[0].message


def test_permit_overlong_authority_and_address() -> None:
    row = _permit(permit_authority="局" * 51, permit_address="区" * 101)
    _, errors = validate_row(row, 2, _context())
    assert _fields_of(errors) == ["permit_authority", "permit_address"]


# Personal numbers in messages


@pytest.mark.parametrize("raw", ["6.20402201810221E+17", "620402201810221000.0"])
def test_damaged_id_message_masked(raw: str) -> None:
    with pytest.raises(ValueProblem) as caught:
        normalize_id_text(raw)
    assert raw not in caught.value.message
    assert "2018102" not in caught.value.message
    assert "****" in caught.value.message


def test_row_damaged_id_error_masked() -> None:
    row = _row(guardian_id_number="6.20402198603121E+17")
    _, errors = validate_row(row, 2, _context())
    assert _fields_of(errors) == ["guardian_id_number"]
    assert "1986031" not in errors[0].describe()
    assert "后几位已丢失" in errors[0].message


@pytest.mark.parametrize(
    ("text", "hidden", "shown"),
    [
        (f"与{CHILD_ID}相同", CHILD_ID, CHILD_ID[-4:]),
        (f"号码{CHILD_ID[:17]}x有误", CHILD_ID[:17], "620402"),
        ("旧证号620402181215171有误", "620402181215171", "620402"),
        ("“6.20402201810221E+17”", "201810221", "6.2040"),
        ("联系电话13800001234", "13800001234", "138****1234"),
    ],
)
def test_row_error_masks_numbers(text: str, hidden: str, shown: str) -> None:
    error = RowError(2, "address", "", text, f"请核对{text}")
    assert hidden not in error.message
    assert hidden not in error.fix
    assert shown in error.message


def test_row_error_keeps_short_numbers() -> None:
    message = "出生日期20181322不存在，截止日2025-08-31，第0001200号"
    error = RowError(2, "student_id_number", "", message, "")
    assert error.message == message


# Wording of row errors and statuses


def test_contact_id_same_as_child_fix_names_person() -> None:
    row = _row(guardian_id_number=CHILD_ID, emergency_id_number=CHILD_ID)
    _, errors = validate_row(row, 2, _context())
    assert [error.fix for error in errors] == [
        "填写监护人本人的身份证号",
        "填写紧急联系人本人的身份证号",
    ]


@pytest.mark.parametrize("raw", ["2025-13-01 08:00:00", "2025/7/32 8:00", "七月一日"])
def test_row_bad_submission_time_fix(raw: str) -> None:
    _, errors = validate_row(_row(submitted_at=raw), 2, _context())
    assert _fields_of(errors) == ["submitted_at"]
    assert "YYYY-MM-DD HH:MM:SS" in errors[0].fix
    assert "2018-09-01" not in errors[0].fix


def test_row_over_age_has_reason() -> None:
    early = make_id_number("620402", date(2018, 8, 31), 12)
    values, _ = validate_row(_row(student_id_number=early), 4, _context())
    offline, _ = validate_row(
        _row(student_id_number=early, consent="否"), 4, _context()
    )
    assert values["status"] == Status.SUBMITTED
    assert values["status_reason"] == OVER_AGE_REASON
    assert OVER_AGE_REASON == "超龄，需教育局确认"
    assert offline["status_reason"] == f"{OFFLINE_REASON}；{OVER_AGE_REASON}"
