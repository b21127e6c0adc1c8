"""`admissions import` and the intake service on real SQLite files.

Every name, ID number and mobile here is made up.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from console.cli import cli
from console.db import create_schema, make_engine, session_scope
from console.errors import AdmissionsError, WindowClosedError
from console.intake.headers import ERROR_COLUMN
from console.models import Application, AuditEvent, Status, Window
from console.rules.idnumber import make_id_number
from console.services.intake import import_rows
from console.services.reference import load_reference
from console.services.seasons import close_window, open_window

# The platform's sample export, kept in the repository so that a clone runs alone.
SAMPLE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "sample-applications-2025.csv"
)
HEADERS_ZH = [
    "学生姓名", "身份证号", "现居住地址", "享受优抚政策情况", "预报名区县", "预报名学校",
    "监护人姓名", "监护人身份证号", "监护人与学生关系", "监护人手机号码", "产权证编号",
    "紧急联系人姓名", "紧急联系人身份证号", "紧急联系人与学生关系", "紧急联系人手机号码",
    "居住证签发日期", "居住证有效日期", "居住证签发机关", "居住证登记现居住地",
    "数据查询授权", "申报时间",
]  # fmt: skip
KEYS = [
    "student_name", "student_id_number", "address", "preferential_policy", "county",
    "preferred_school", "guardian_name", "guardian_id_number", "guardian_relation",
    "guardian_mobile", "property_certificate_no", "emergency_name",
    "emergency_id_number", "emergency_relation", "emergency_mobile",
    "permit_issued_on", "permit_expires_on", "permit_authority", "permit_address",
    "consent", "submitted_at",
]  # fmt: skip
SCHOOLS = ["白银区人民路小学", "白银区公园路小学", "白银区工农路小学"]


def make_row(index: int, **overrides: str) -> dict[str, str]:
    """Return a valid made-up application; `index` makes the child unique."""
    birth = date(2018, 9, 1) + timedelta(days=index % 330)
    sequence = index // 330 % 1000
    row = {
        "student_name": f"测试{index}号",
        "student_id_number": make_id_number("620402", birth, sequence),
        "address": f"白银区人民路街道铜城社区{index % 40 + 1}号楼",
        "preferential_policy": "无",
        "county": "白银区",
        "preferred_school": SCHOOLS[index % 3],
        "guardian_name": f"测家长{index}",
        "guardian_id_number": make_id_number("620402", date(1988, 1, 1) + timedelta(days=index % 900), sequence),
        "guardian_relation": "父亲",
        "guardian_mobile": f"138{index:08d}",
        "property_certificate_no": f"甘(2019)白银市不动产权第{index:07d}号",
        "emergency_name": f"测联系人{index}",
        "emergency_id_number": make_id_number("620402", date(1960, 1, 1) + timedelta(days=index % 900), sequence),
        "emergency_relation": "祖母",
        "emergency_mobile": f"139{index:08d}",
        "permit_issued_on": "",
        "permit_expires_on": "",
        "permit_authority": "",
        "permit_address": "",
        "consent": "是",
        "submitted_at": f"2025-07-01 08:{index % 60:02d}:{index % 59:02d}",
    }  # fmt: skip
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict[str, str]], *, encoding: str = "utf-8",
              headers: list[str] = HEADERS_ZH) -> Path:  # fmt: skip
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        for row in rows:
            writer.writerow([row[key] for key in KEYS])
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'season.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code="620402", actor="tester")
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


@pytest.fixture
def window(engine: Engine) -> Window:
    with session_scope(engine) as session:
        return session.scalars(select(Window)).one()


def run(db_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, "--operator", "tester", *args])
    return result.exit_code, result.output


def count_applications(engine: Engine, status: str | None = None) -> int:
    query = select(func.count()).select_from(Application)
    if status:
        query = query.where(Application.status == status)
    with session_scope(engine) as session:
        return session.scalar(query) or 0


# The sample export of the platform


def test_sample_file_inside_repository() -> None:
    repository = Path(__file__).resolve().parents[1]
    assert SAMPLE.is_relative_to(repository)
    assert SAMPLE.is_file()


def test_sample_file_eight_stored_four_reported(db_url: str, engine: Engine) -> None:
    code, output = run(db_url, "import", str(SAMPLE))
    assert code == 0, output
    assert "新增 8 条" in output
    assert "有误 4 行" in output
    assert "校验位错误：末位应为6" in output
    assert "2019-08-31及以前出生" in output
    assert "监护人手机号码" in output
    assert "与第2行是同一名学生" in output
    assert count_applications(engine) == 8


def test_sample_file_reimport_changes_nothing(db_url: str, engine: Engine) -> None:
    run(db_url, "import", str(SAMPLE))
    code, output = run(db_url, "import", str(SAMPLE))
    assert code == 0, output
    assert "新增 0 条，更新 0 条，未变 8 条，有误 4 行" in output
    assert count_applications(engine) == 8


def test_sample_minority_name_and_permit_kept(db_url: str, engine: Engine) -> None:
    run(db_url, "import", str(SAMPLE))
    with session_scope(engine) as session:
        names = set(session.scalars(select(Application.student_name)))
        permit = session.scalars(
            select(Application).where(Application.student_name == "陈思远")
        ).one()
    assert "阿依古丽·买买提" in names
    assert permit.permit_issued_on == date(2023, 3, 15)
    assert permit.permit_expires_on == date(2026, 3, 14)


def test_check_flag_stores_nothing(db_url: str, engine: Engine) -> None:
    code, output = run(db_url, "import", str(SAMPLE), "--check")
    assert code == 0, output
    assert "检查（未保存）" in output
    assert "新增 8 条" in output
    assert "有误 4 行" in output
    assert count_applications(engine) == 0


def test_strict_flag_fails_on_bad_rows(db_url: str) -> None:
    code, output = run(db_url, "import", str(SAMPLE), "--strict")
    assert code == 1
    assert "4 行未导入" in output


def test_json_output_masks_numbers(db_url: str) -> None:
    code, output = run(db_url, "import", str(SAMPLE), "--json")
    assert code == 0
    assert '"stored": 8' in output
    assert "620402********4290" in output
    assert "620402201811064290" not in output


# Encodings and formats


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_detected(tmp_path: Path, db_url: str, engine: Engine,
                                encoding: str) -> None:  # fmt: skip
    rows = [make_row(1, student_name="欧阳测试"), make_row(2)]
    path = write_csv(tmp_path / "in.csv", rows, encoding=encoding)
    code, output = run(db_url, "import", str(path))
    assert code == 0, output
    assert "新增 2 条" in output
    with session_scope(engine) as session:
        assert "欧阳测试" in set(session.scalars(select(Application.student_name)))


def test_gb18030_name_outside_gbk_kept(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    # 䶮 (U+4DAE) is in GB18030 but not in GBK.
    path = write_csv(
        tmp_path / "in.csv", [make_row(1, student_name="刘䶮")], encoding="gb18030"
    )
    code, output = run(db_url, "import", str(path), "--encoding", "gbk")
    assert code == 0, output
    with session_scope(engine) as session:
        assert session.scalars(select(Application.student_name)).one() == "刘䶮"


def test_forced_wrong_encoding_reported(tmp_path: Path, db_url: str) -> None:
    path = write_csv(tmp_path / "in.csv", [make_row(1)], encoding="gbk")
    code, output = run(db_url, "import", str(path), "--encoding", "utf-8")
    assert code == 1
    assert "--encoding" in output


def test_english_headers_accepted(tmp_path: Path, db_url: str) -> None:
    path = write_csv(tmp_path / "in.csv", [make_row(1)], headers=KEYS)
    code, output = run(db_url, "import", str(path))
    assert code == 0, output
    assert "新增 1 条" in output


def test_unknown_column_hint_masks_numbers(tmp_path: Path, db_url: str) -> None:
    path = write_csv(tmp_path / "in.csv", [make_row(1)], headers=[*HEADERS_ZH])
    text = path.read_text(encoding="utf-8").splitlines()
    text[0] += ",13812345678"
    text[1] += ",x"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")

    code, output = run(db_url, "import", str(path))

    assert code == 0, output
    assert "已忽略：138****5678" in output
    assert "13812345678" not in output


def test_missing_required_column_stops(tmp_path: Path, db_url: str) -> None:
    path = tmp_path / "in.csv"
    path.write_text("学生姓名,身份证号\n王测试,62040220181215171X\n", encoding="utf-8")
    code, output = run(db_url, "import", str(path))
    assert code == 1
    assert "缺少必填列" in output
    assert "监护人手机号码" in output


def _write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["白银区2025年小学报名名单"])  # a title row above the header
    sheet.append(HEADERS_ZH)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def test_xlsx_cells_of_every_type(tmp_path: Path, db_url: str, engine: Engine) -> None:
    good = make_row(1)
    as_text = [good[key] for key in KEYS]
    numeric = [make_row(2)[key] for key in KEYS]
    numeric[1] = int(make_row(2)["student_id_number"][:17] + "0")  # stored as a number
    numeric[9] = 13800000002  # a mobile stored as a number is still exact
    permit = [make_row(3)[key] for key in KEYS]
    permit[15] = date(2023, 3, 15)  # a date cell
    permit[16] = 46095  # 2026-03-14 as a bare serial number
    permit[17] = "白银市公安局白银分局"
    permit[18] = "白银区人民路街道铜城社区3号楼"
    path = _write_xlsx(tmp_path / "in.xlsx", [as_text, numeric, permit])

    code, output = run(
        db_url, "import", str(path), "--errors", str(tmp_path / "bad.xlsx")
    )

    assert code == 0, output
    assert "新增 2 条" in output
    assert "有误 1 行" in output
    assert "后几位已丢失" in output
    assert "     4  " in output  # the damaged row is row 4: title, header, first row
    with session_scope(engine) as session:
        stored = session.scalars(
            select(Application).where(Application.student_name == "测试3号")
        ).one()
    assert stored.permit_issued_on == date(2023, 3, 15)
    assert stored.permit_expires_on == date(2026, 3, 14)


def test_xlsx_error_file_stays_xlsx(tmp_path: Path, db_url: str) -> None:
    from python_calamine import CalamineWorkbook

    bad = [make_row(1, guardian_mobile="12345")[key] for key in KEYS]
    path = _write_xlsx(tmp_path / "in.xlsx", [bad])
    run(db_url, "import", str(path), "--errors", str(tmp_path / "bad.xlsx"))
    rows = (
        CalamineWorkbook.from_path(str(tmp_path / "bad.xlsx"))
        .get_sheet_by_index(0)
        .to_python()
    )
    assert rows[0][-1] == ERROR_COLUMN
    assert rows[1][1] == bad[1]  # the ID number is still text
    assert "监护人手机号码" in rows[1][-1]


# Error files, re-imports and changes


def test_corrected_error_file_reimported(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    rows = [make_row(i) for i in range(5)]
    rows[1]["guardian_mobile"] = "138-0000"
    rows[3]["student_id_number"] = "6.20402E+17"
    source = write_csv(tmp_path / "in.csv", rows, encoding="gbk")
    errors = tmp_path / "errors.csv"
    run(db_url, "import", str(source), "--errors", str(errors))
    assert count_applications(engine) == 3

    text = errors.read_text(encoding="gb18030")
    assert ERROR_COLUMN in text.splitlines()[0]
    fixed = text.replace("138-0000", "13800000001").replace(
        "6.20402E+17", make_row(3)["student_id_number"]
    )
    errors.write_text(fixed, encoding="gb18030")
    code, output = run(
        db_url, "import", str(errors), "--errors", str(tmp_path / "again.csv")
    )

    assert code == 0, output
    assert "新增 2 条" in output
    assert "有误 0 行" in output
    assert count_applications(engine) == 5
    code, output = run(db_url, "import", str(source))
    assert "未变 3 条" in output
    assert count_applications(engine) == 5


@pytest.mark.parametrize("spelling", ["same", "dotted", "symlink", "hardlink"])
def test_error_file_same_as_input_rejected(
    tmp_path: Path, db_url: str, engine: Engine, spelling: str
) -> None:
    rows = [make_row(i) for i in range(3)]
    rows[1]["guardian_mobile"] = "12345"
    source = write_csv(tmp_path / "in.csv", rows)
    before = source.read_bytes()
    errors = {
        "same": source,
        "dotted": tmp_path / "sub" / ".." / "in.csv",
        "symlink": tmp_path / "link.csv",
        "hardlink": tmp_path / "hard.csv",
    }[spelling]
    (tmp_path / "sub").mkdir()
    if spelling == "symlink":
        errors.symlink_to(source)
    elif spelling == "hardlink":
        errors.hardlink_to(source)

    code, output = run(db_url, "import", str(source), "--errors", str(errors))

    assert code == 1, output
    assert len(output.strip().splitlines()) == 1
    assert str(errors) in output
    assert "--errors" in output
    assert source.read_bytes() == before
    assert count_applications(engine) == 0


def test_error_file_same_as_database_rejected(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    source = write_csv(tmp_path / "in.csv", [make_row(1, guardian_mobile="1")])
    database = tmp_path / "season.db"
    before = database.stat().st_size

    code, output = run(db_url, "import", str(source), "--errors", str(database))

    assert code == 1, output
    assert "数据库" in output
    assert database.stat().st_size == before
    assert count_applications(engine) == 0


def test_error_file_over_other_file_rejected(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    source = write_csv(
        tmp_path / "in.csv", [make_row(1), make_row(2, guardian_mobile="1")]
    )
    other = write_csv(tmp_path / "另一份报名.csv", [make_row(3)])
    before = other.read_bytes()

    code, output = run(db_url, "import", str(source), "--errors", str(other))

    assert code == 1, output
    assert "已存在" in output
    assert "错误说明" in output
    assert other.read_bytes() == before
    assert count_applications(engine) == 0


def test_error_file_of_earlier_run_rewritten(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    errors = tmp_path / "errors.csv"
    first = write_csv(tmp_path / "first.csv", [make_row(1, guardian_mobile="1")])
    second = write_csv(tmp_path / "second.csv", [make_row(2, guardian_mobile="2")])

    assert run(db_url, "import", str(first), "--errors", str(errors))[0] == 0
    code, output = run(db_url, "import", str(second), "--errors", str(errors))

    assert code == 0, output
    with errors.open(encoding="utf-8-sig", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert [row[header.index("学生姓名")] for row in rows] == ["测试2号"]

    # A run without errors empties the earlier error file instead of leaving it.
    clean = write_csv(tmp_path / "clean.csv", [make_row(3)])
    code, output = run(db_url, "import", str(clean), "--errors", str(errors))
    assert code == 0, output
    assert "已清空" in output
    with errors.open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.reader(handle))) == 1  # the header only


def test_overlong_address_rejected_and_shortened(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    rows = [make_row(1), make_row(2, address="白" * 10_000)]
    source = write_csv(tmp_path / "in.csv", rows)

    code, output = run(db_url, "import", str(source), "--json")

    assert code == 0, output
    assert count_applications(engine) == 1
    error = json.loads(output)["errors"][0]
    assert error["field"] == "address"
    assert "10000个字符" in error["message"]
    assert "100个字符" in error["message"]
    assert len(error["value"]) <= 40
    code, output = run(db_url, "import", str(source))
    assert max(len(line) for line in output.splitlines()) < 300


def test_damaged_numbers_masked_in_reports(tmp_path: Path, db_url: str) -> None:
    damaged = "6.20402201810221E+17"
    rows = [make_row(1), make_row(2, student_id_number=damaged)]
    source = write_csv(tmp_path / "in.csv", rows)
    errors = tmp_path / "errors.csv"

    code, output = run(db_url, "import", str(source), "--errors", str(errors))
    _, as_json = run(db_url, "import", str(source), "--check", "--json")

    assert code == 0, output
    assert "后几位已丢失" in output
    assert damaged not in output
    assert "201810221" not in output
    assert damaged not in as_json
    with errors.open(encoding="utf-8-sig", newline="") as handle:
        header, row = list(csv.reader(handle))
    assert row[header.index("身份证号")] == damaged  # staff's own input, kept as is
    assert "后几位已丢失" in row[header.index(ERROR_COLUMN)]
    assert "201810221" not in row[header.index(ERROR_COLUMN)]


def test_changed_row_updates_and_audits(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    write_csv(tmp_path / "v1.csv", [make_row(1), make_row(2)])
    changed = make_row(
        2, address="白银区公园路街道建银社区9号楼", guardian_mobile="13900009999"
    )
    write_csv(tmp_path / "v2.csv", [make_row(1), changed])
    run(db_url, "import", str(tmp_path / "v1.csv"))

    code, output = run(db_url, "import", str(tmp_path / "v2.csv"))

    assert code == 0, output
    assert "新增 0 条，更新 1 条，未变 1 条" in output
    with session_scope(engine) as session:
        app = session.scalars(
            select(Application).where(Application.student_name == "测试2号")
        ).one()
        event_row = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "application.update")
        ).one()
    assert app.address == "白银区公园路街道建银社区9号楼"
    assert event_row.entity_id == str(app.id)
    assert event_row.detail is not None
    assert set(event_row.detail["changes"]) == {"address", "guardian_mobile"}
    assert event_row.detail["changes"]["guardian_mobile"][1] == "139****9999"


def test_second_submission_rejected_across_imports(tmp_path: Path, db_url: str) -> None:
    write_csv(tmp_path / "a.csv", [make_row(1)])
    later = make_row(
        1, preferred_school="白银区工农路小学", submitted_at="2025-07-02 09:00:00"
    )
    write_csv(tmp_path / "b.csv", [later])
    run(db_url, "import", str(tmp_path / "a.csv"))
    code, output = run(db_url, "import", str(tmp_path / "b.csv"))
    assert "有误 1 行" in output
    assert "已有一份2025-07-01" in output


def test_child_in_other_county_named(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    with session_scope(engine) as session:
        open_window(session, year=2025, county_code="620403", actor="tester")
    write_csv(tmp_path / "a.csv", [make_row(1)])
    other = make_row(1, county="平川区", preferred_school="平川区长征小学")
    write_csv(tmp_path / "b.csv", [other])
    run(db_url, "import", str(tmp_path / "a.csv"))

    code, output = run(db_url, "import", str(tmp_path / "b.csv"), "--json")

    assert code == 0, output
    message = json.loads(output)["errors"][0]["message"]
    assert "白银区" in message
    assert "620402" not in message


def test_withdrawn_child_resubmits(tmp_path: Path, db_url: str, engine: Engine) -> None:
    write_csv(tmp_path / "a.csv", [make_row(1)])
    run(db_url, "import", str(tmp_path / "a.csv"))
    with session_scope(engine) as session:
        first = session.scalars(select(Application)).one()
        first.status = Status.WITHDRAWN
        session.add(first)

    code, output = run(db_url, "import", str(tmp_path / "a.csv"))

    assert "新增 1 条" in output
    with session_scope(engine) as session:
        statuses = list(
            session.scalars(select(Application.status).order_by(Application.id))
        )
        resubmit = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "application.resubmit")
        ).one()
    assert statuses == [Status.WITHDRAWN, Status.SUBMITTED]
    assert resubmit.detail is not None
    assert resubmit.detail["previous_application"] == first.id


def test_no_consent_stored_offline(tmp_path: Path, db_url: str, engine: Engine) -> None:
    write_csv(tmp_path / "a.csv", [make_row(1, consent="否"), make_row(2, consent="")])
    run(db_url, "import", str(tmp_path / "a.csv"))
    assert count_applications(engine, Status.OFFLINE) == 2


def test_blank_rows_skipped_numbers_kept(tmp_path: Path, db_url: str) -> None:
    path = write_csv(tmp_path / "a.csv", [make_row(1)])
    with path.open("a", encoding="utf-8") as handle:
        handle.write(",,,,\n")
        handle.write(
            ",".join(make_row(2, guardian_mobile="1")[key] for key in KEYS) + "\n"
        )
    code, output = run(db_url, "import", str(path))
    assert "空行 1 行" in output
    assert "     4  监护人手机号码" in output


# The service directly: windows, sessions and crashes


def test_closed_window_rejected_unless_overridden(
    engine: Engine, window: Window
) -> None:
    with session_scope(engine) as session:
        closed = close_window(session, year=2025, county_code="620402", stage="primary",
                              actor="tester")  # fmt: skip
    with pytest.raises(WindowClosedError):
        import_rows(
            engine, [make_row(1)], window=closed, source="import", actor="tester"
        )
    report = import_rows(engine, [make_row(1)], window=closed, source="import",
                         actor="tester", override_by="supervisor",
                         override_reason="教育局批准补录")  # fmt: skip
    assert report.stored == 1
    with session_scope(engine) as session:
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "window.override" in actions


def test_override_without_reason_rejected(engine: Engine, window: Window) -> None:
    with session_scope(engine) as session:
        closed = close_window(session, year=2025, county_code="620402", stage="primary",
                              actor="tester")  # fmt: skip
    with pytest.raises(AdmissionsError) as caught:
        import_rows(engine, [make_row(1)], window=closed, source="import",
                    actor="tester", override_by="supervisor", override_reason=" ")  # fmt: skip
    assert "--reason" in caught.value.message
    assert count_applications(engine) == 0


def test_override_command_audits_reason_and_counts(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    with session_scope(engine) as session:
        close_window(session, year=2025, county_code="620402", stage="primary",
                     actor="tester")  # fmt: skip
    rows = [make_row(1), make_row(2), make_row(3, guardian_mobile="1")]
    source = write_csv(tmp_path / "late.csv", rows)

    code, no_reason = run(db_url, "import", str(source), "--override-window")
    assert code != 0
    assert "--reason" in no_reason
    code, reason_alone = run(db_url, "import", str(source), "--reason", "补录")
    assert code != 0
    assert "--override-window" in reason_alone
    assert count_applications(engine) == 0

    code, output = run(db_url, "import", str(source), "--override-window",
                       "--reason", "教育局批准补录")  # fmt: skip

    assert code == 0, output
    assert count_applications(engine) == 2
    with session_scope(engine) as session:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.startswith("window.override"))
            .order_by(AuditEvent.id)
        ).all()
    assert [e.action for e in events] == ["window.override", "window.override.result"]
    started, result = (e.detail or {} for e in events)
    assert started["reason"] == "教育局批准补录"
    assert started["file"] == "late.csv"
    assert result["reason"] == "教育局批准补录"
    assert result["file"] == "late.csv"
    assert result["import"] == started["import"]
    assert (result["stored"], result["rejected"]) == (2, 1)
    assert events[0].actor == "tester"


def test_session_bind_uses_caller_transaction(engine: Engine, window: Window) -> None:
    with session_scope(engine) as session:
        report = import_rows(session, [make_row(i) for i in range(30)], window=window,
                             source="simulator", actor="tester", chunk_size=7)  # fmt: skip
        assert report.stored == 30
        session.rollback()
    assert count_applications(engine) == 0


def test_duplicate_within_import_names_row(engine: Engine, window: Window) -> None:
    rows = [make_row(1), make_row(2), make_row(1, preferred_school="白银区工农路小学")]
    report = import_rows(
        engine, rows, window=window, source="import", actor="t", first_row=2
    )
    assert report.stored == 2
    assert report.rejected_rows == [4]
    assert "第2行" in report.errors[0].message


def test_each_created_application_has_its_own_audit_event(
    engine: Engine, window: Window
) -> None:
    rows = [make_row(i) for i in range(25)]
    import_rows(engine, rows, window=window, source="import", actor="t", chunk_size=10)

    with session_scope(engine) as session:
        students = dict(session.execute(
            select(Application.id, Application.student_id_number)).all())  # fmt: skip
        events = session.execute(
            select(AuditEvent.entity_id, AuditEvent.detail).where(
                AuditEvent.action == "application.create"
            )
        ).all()
    by_row = {detail["row"]: int(entity) for entity, detail in events}
    assert len(by_row) == 25
    for number, row in enumerate(rows, start=1):
        assert students[by_row[number]] == row["student_id_number"]


def test_import_command_default_chunk_size(tmp_path: Path, db_url: str) -> None:
    """`admissions import` without --chunk-size stores DEFAULT_CHUNK_SIZE rows per chunk."""
    from sqlalchemy.engine import Engine as EngineClass

    from console.services.intake import DEFAULT_CHUNK_SIZE

    path = write_csv(tmp_path / "big.csv",
                     [make_row(i) for i in range(DEFAULT_CHUNK_SIZE + 1)])  # fmt: skip
    chunk_sizes: list[int] = []

    def record_chunk(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO application"):
            chunk_sizes.append(len(parameters) if executemany else 1)

    # The command builds its own engine, so the listener goes on every engine.
    event.listen(EngineClass, "before_cursor_execute", record_chunk)
    try:
        code, output = run(db_url, "import", str(path))
    finally:
        event.remove(EngineClass, "before_cursor_execute", record_chunk)
    assert code == 0, output
    assert chunk_sizes == [DEFAULT_CHUNK_SIZE, 1]
    code, output = run(db_url, "import", "--help")
    assert f"默认：{DEFAULT_CHUNK_SIZE}" in output


def test_crash_mid_import_then_rerun(engine: Engine, window: Window) -> None:
    rows = [make_row(i) for i in range(250)]
    audit_inserts = 0

    def crash_on_third_chunk(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        nonlocal audit_inserts
        if statement.startswith("INSERT INTO auditevent"):
            audit_inserts += 1
            if audit_inserts == 3:
                raise RuntimeError(
                    "simulated crash after the applications were inserted"
                )

    event.listen(engine, "before_cursor_execute", crash_on_third_chunk)
    with pytest.raises(RuntimeError):
        import_rows(
            engine, rows, window=window, source="import", actor="t", chunk_size=100
        )
    event.remove(engine, "before_cursor_execute", crash_on_third_chunk)

    assert count_applications(engine) == 200  # two whole chunks, nothing of the third
    with session_scope(engine) as session:
        audited = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "application.create"))  # fmt: skip
    assert audited == 200

    report = import_rows(
        engine, rows, window=window, source="import", actor="t", chunk_size=100
    )
    assert (report.stored, report.unchanged, report.rejected) == (50, 200, 0)
    assert count_applications(engine) == 250


def test_killed_import_process_rerun(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    """A process killed mid-import leaves whole chunks only; the re-run completes it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = write_csv(tmp_path / "big.csv", [make_row(i) for i in range(6000)])
    admissions = shutil.which("admissions", path=str(Path(sys.executable).parent))
    assert admissions is not None
    process = subprocess.Popen(
        [admissions, "--db", db_url, "import", str(path), "--chunk-size", "200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while count_applications(engine) < 400 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    stored = count_applications(engine)
    assert stored % 200 == 0 or stored == 6000
    code, output = run(db_url, "import", str(path))
    assert code == 0, output
    assert f"新增 {6000 - stored} 条" in output
    assert count_applications(engine) == 6000


def test_concurrent_import_of_same_child(
    db_url: str, window: Window, caplog: pytest.LogCaptureFixture
) -> None:
    """A child stored by another import after this one loaded the season is not doubled."""
    first_engine, second_engine = make_engine(db_url), make_engine(db_url)

    def rows_racing_another_import() -> Iterator[dict[str, str]]:
        # Runs after import_rows has loaded the season's applications.
        import_rows(second_engine, [make_row(5)], window=window, source="import",
                    actor="other")  # fmt: skip
        yield from (make_row(i) for i in range(10))

    report = import_rows(first_engine, rows_racing_another_import(), window=window,
                         source="import", actor="t")  # fmt: skip

    assert "conflicted with a concurrent import" in caplog.text
    assert (report.stored, report.unchanged, report.rejected) == (9, 1, 0)
    assert count_applications(first_engine) == 10


def test_conflict_without_concurrent_import_raised(
    engine: Engine, window: Window
) -> None:
    """An IntegrityError that a reload of the season does not explain is not retried."""
    from sqlalchemy.exc import IntegrityError

    statements: list[str] = []

    def count_inserts(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("INSERT INTO application"):
            statements.append(statement)

    missing_season = Window(**{**window.model_dump(), "season_id": 999})
    event.listen(engine, "before_cursor_execute", count_inserts)
    try:
        with pytest.raises(IntegrityError):
            import_rows(engine, [make_row(1)], window=missing_season,
                        source="import", actor="t")  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", count_inserts)
    assert len(statements) == 1  # the reload found nothing new, so no retry
    assert count_applications(engine) == 0


def test_damaged_values_repaired_end_to_end(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    """A CSV with what spreadsheets and typing do to values stores clean values."""
    child = make_row(1)["student_id_number"]
    damaged = make_row(
        1,
        student_name=" 阿依古丽 • 买买提 ",
        student_id_number=" " + child[:6] + " " + child[6:].lower().translate(
            str.maketrans("0123456789", "０１２３４５６７８９")
        ),
        guardian_mobile="+86 138-0000-0001",
        emergency_mobile="0086 139 0000 0001",
        permit_issued_on="2023/3/15",
        permit_expires_on="2026年3月14日",
        permit_authority="白银市公安局白银分局",
        permit_address="白银区人民路街道铜城社区1号楼",
        submitted_at="2025/7/1 8:05:09",
    )  # fmt: skip
    path = write_csv(tmp_path / "in.csv", [damaged], encoding="gb18030")

    code, output = run(db_url, "import", str(path))

    assert code == 0, output
    assert "新增 1 条" in output
    with session_scope(engine) as session:
        stored = session.scalars(select(Application)).one()
    assert stored.student_name == "阿依古丽·买买提"
    assert stored.student_id_number == child
    assert stored.guardian_mobile == "13800000001"
    assert stored.emergency_mobile == "13900000001"
    assert stored.permit_issued_on == date(2023, 3, 15)
    assert stored.permit_expires_on == date(2026, 3, 14)
    assert stored.submitted_at.strftime("%Y-%m-%d %H:%M:%S") == "2025-07-01 00:05:09"


def test_undecodable_operator_rejected(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    """An operator name typed in a GBK terminal reaches Python as surrogate escapes."""
    path = write_csv(tmp_path / "a.csv", [make_row(1)])
    operator = b"\xcd\xf5\xc0\xcf\xca\xa6".decode("utf-8", "surrogateescape")

    result = CliRunner().invoke(
        cli, ["--db", db_url, "--operator", operator, "import", str(path)]
    )

    assert result.exit_code == 2, result.output
    assert "--operator" in result.output
    assert "UTF-8" in result.output
    assert count_applications(engine) == 0


@pytest.mark.parametrize(
    ("operator", "escaped"),
    [
        ("   ", "只有空白"),
        ("张三\n李四", "张三\\n李四"),
        ("clerk\x1b[31m", "clerk\\x1b[31m"),
        ("王\t五", "王\\t五"),
        ("赵\u200b六", "赵\\u200b六"),
    ],
)
def test_unprintable_operator_rejected(
    tmp_path: Path, db_url: str, engine: Engine, operator: str, escaped: str
) -> None:
    """A blank operator, or one with control characters, would make the audit log unreadable."""
    path = write_csv(tmp_path / "a.csv", [make_row(1)])

    result = CliRunner().invoke(
        cli, ["--db", db_url, "--operator", operator, "import", str(path)]
    )

    assert result.exit_code == 2, result.output
    assert "--operator" in result.output
    assert escaped in result.output
    assert count_applications(engine) == 0


def test_operator_outer_spaces_trimmed(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    path = write_csv(tmp_path / "a.csv", [make_row(1)])

    result = CliRunner().invoke(
        cli, ["--db", db_url, "--operator", "  张 三 ", "import", str(path)]
    )

    assert result.exit_code == 0, result.output
    with session_scope(engine) as session:
        actors = set(
            session.scalars(
                select(AuditEvent.actor).where(
                    AuditEvent.action == "application.create"
                )
            )
        )
    assert actors == {"张 三"}
