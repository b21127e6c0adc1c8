"""Allocation runs against a real SQLite database: commit, approve, reopen, explain, diff."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from console.cli import cli
from console.db import create_schema, make_engine, session_scope
from console.errors import AdmissionsError
from console.models import (
    AllocationRun,
    Application,
    AuditEvent,
    Placement,
    School,
    Season,
    Status,
    ZoneItem,
)
from console.rules.idnumber import make_id_number
from console.services.allocation import (
    approve_run,
    diff_runs,
    export_document,
    placement_of,
    reopen_run,
    run_allocation,
    verify_document,
    verify_run,
)
from console.services.reference import load_reference
from console.services.seasons import open_window

COUNTY = "620402"
SCHOOL = "620402P07"  # 45 seats in the fixtures


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'alloc.db'}")
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code=COUNTY, actor="tester")
    return engine


def add_children(
    session: Session,
    count: int,
    *,
    school: str = SCHOOL,
    batch: str = "A",
    start: int = 0,
    stage: str = "primary",
    primary: str | None = None,
    season_id: int | None = 1,
) -> list[int]:
    """Add `count` classified applications of invented children in the zone of `school`."""
    zone = session.exec(select(ZoneItem).where(ZoneItem.school_code == school)).first()
    ids = []
    for number in range(start, start + count):
        first_birth = date(2019, 1, 1) if stage == "primary" else date(2013, 1, 1)
        birth = first_birth + timedelta(days=number // 999)
        sequence = number % 999 + 1
        application = Application(
            season_id=season_id,
            county_code=COUNTY,
            stage=stage,
            student_name=f"测试{number}",
            student_id_number=make_id_number(COUNTY, birth, sequence),
            gender="男",
            birth_date=birth,
            address="白银区测试地址",
            preferred_school_code=school if stage == "primary" else None,
            primary_school_code=primary,
            guardian_name="家长",
            guardian_id_number=make_id_number(
                COUNTY, date(1990, 1, 1) + (birth - first_birth), sequence
            ),
            guardian_relation="父亲",
            guardian_mobile="13800000000",
            property_certificate_no=f"甘(2020)白银区不动产权第{number:07d}号",
            emergency_name="联系人",
            emergency_id_number=make_id_number(COUNTY, date(1960, 1, 1), 1),
            emergency_relation="祖父",
            emergency_mobile="13900000000",
            consent=True,
            submitted_at=datetime(2025, 7, 1, 0, 0, number % 60, tzinfo=UTC),
            status=Status.CLASSIFIED,
            batch=batch,
            zone_school_code=school if stage == "primary" else None,
            zone_item_id=zone.id if zone else None,
            household_date=date(2015, 1, 1 + number % 28),
            property_date=date(2016, 1, 1),
            insurance_months=12,
        )
        session.add(application)
        session.flush()
        ids.append(application.id)
    return ids


def test_commit_places_everyone_or_reports(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 60)
    with session_scope(engine) as session:
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    assert report.run_id is not None
    assert report.children == 60
    with Session(engine) as session:
        statuses = session.exec(select(Application.status)).all()
        assert set(statuses) <= {Status.PLACED, Status.UNPLACED}
        reasons = session.exec(select(Application.status_reason)).all()
        assert all(reasons)
        placements = session.exec(select(Placement)).all()
        assert len(placements) == 60
        at_school = [p for p in placements if p.school_code == SCHOOL]
        assert len(at_school) == 45
        adjusted = [p for p in placements if p.phase == "adjust"]
        assert len(adjusted) == 15
        seats = {s.code: s.seats for s in session.exec(select(School))}
        for code in {p.school_code for p in placements if p.school_code}:
            assert sum(p.school_code == code for p in placements) <= seats[code]


def test_dry_run_writes_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 10)
    with session_scope(engine) as session:
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=False,
        )
    assert report.run_id is None
    assert report.placed == 10
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Placement)).one() == 0
        assert session.exec(select(func.count()).select_from(AllocationRun)).one() == 0
        assert set(session.exec(select(Application.status)).all()) == {
            Status.CLASSIFIED
        }


def test_interrupted_run_leaves_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 2500)  # the first flush comes after 2,000 placements

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt  # as if the operator pressed Ctrl-C after the first flush

    with pytest.raises(KeyboardInterrupt), session_scope(engine) as session:
        run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
            on_progress=interrupt,
        )
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Placement)).one() == 0
        assert session.exec(select(func.count()).select_from(AllocationRun)).one() == 0
        assert set(session.exec(select(Application.status)).all()) == {
            Status.CLASSIFIED
        }


def test_approved_run_refuses_rerun(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 5)
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    assert report.run_id is not None
    with session_scope(engine) as session:
        approve_run(session, run_id=report.run_id, actor="chief")
    with (
        pytest.raises(AdmissionsError, match="reopen"),
        session_scope(engine) as session,
    ):
        run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    with pytest.raises(AdmissionsError, match="原因"), session_scope(engine) as session:
        reopen_run(session, run_id=report.run_id, actor="chief", reason="  ")
    with session_scope(engine) as session:
        reopen_run(
            session, run_id=report.run_id, actor="chief", reason="申诉核实后更正"
        )
    with session_scope(engine) as session:
        second = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    with Session(engine) as session:
        first_run = session.get(AllocationRun, report.run_id)
        assert first_run is not None
        assert first_run.state == "superseded"
        assert first_run.approved_by == "chief"
        actions = session.exec(select(AuditEvent.action)).all()
        assert "allocation.reopen" in actions
        assert "allocation.approve" in actions
        assert (
            diff_runs(session, first_id=report.run_id, second_id=second.run_id or 0)
            == []
        )


def test_explain_names_batch_rank_and_school(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = add_children(session, 50)
        run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    with Session(engine) as session:
        placement, _run = placement_of(session, application_id=ids[0])
    assert "A 批次内排第" in placement.explanation
    assert "白银区四龙镇中心小学" in placement.explanation


def test_cli_dry_run_prints_table(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 50)
    url = str(engine.url)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--db", url, "allocate", "--county", "白银区", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "白银区四龙镇中心小学" in result.output
    assert "试运行" in result.output
    committed = runner.invoke(
        cli, ["--db", url, "allocate", "--county", "白银区", "--commit"]
    )
    assert committed.exit_code == 0, committed.output
    explained = runner.invoke(cli, ["--db", url, "allocate", "explain", "1"])
    assert explained.exit_code == 0, explained.output
    assert "片区学校" in explained.output


def commit_run(engine: Engine, **options: object) -> int:
    with session_scope(engine) as session:
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage=str(options.pop("stage", "primary")),
            actor="tester",
            commit=True,
            **options,  # type: ignore[arg-type]
        )
    assert report.run_id is not None
    return report.run_id


def test_verify_reproduces_recorded_draw(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 80, batch="E")
    run_id = commit_run(engine, seed_source="2025-07-20 公证摇号 4471")
    with Session(engine) as session:
        outcome = verify_run(session, run_id=run_id)
        assert outcome.ok, outcome.problems
        wrong_source = verify_run(session, run_id=run_id, seed_source="4472")
        assert not wrong_source.ok
        assert any("摇号种子不一致" in problem for problem in wrong_source.problems)


def test_verify_detects_changed_placement(engine: Engine, tmp_path: Path) -> None:
    with session_scope(engine) as session:
        add_children(session, 60)
    run_id = commit_run(engine)
    with Session(engine) as session:
        document = export_document(session, run_id=run_id)
    assert verify_document(document).ok
    moved = next(c for c in document["children"] if c["phase"] == "adjust")
    moved["school"] = SCHOOL
    outcome = verify_document(document)
    assert [p for p in outcome.problems if "结果不一致" in p]

    moved["school"] = None
    moved["phase"] = "unplaced"
    school = next(s for s in document["schools"] if s["code"] == SCHOOL)
    school["seats"] = 40
    outcome = verify_document(document)
    assert any("超出学位" in problem for problem in outcome.problems)
    school["seats"] = 50
    outcome = verify_document(document)
    assert any("仍有空余学位" in problem for problem in outcome.problems)

    path = tmp_path / "allocation.json"
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(cli, ["allocate", "verify", "--file", str(path)])
    assert result.exit_code == 1
    assert "复核未通过" in result.output


def test_resubmitted_child_keeps_lottery_number(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = add_children(session, 30, batch="E")
    first = commit_run(engine, seed_source="4471")
    with session_scope(engine) as session:
        withdrawn = session.get(Application, ids[0])
        assert withdrawn is not None
        withdrawn.status = Status.WITHDRAWN
        copy = Application.model_validate(withdrawn.model_dump(exclude={"id"}))
        copy.status = Status.CLASSIFIED
        session.add(withdrawn)
        session.add(copy)
        session.flush()
        new_id = copy.id
    second = commit_run(engine, seed_source="4471")
    with Session(engine) as session:
        before, _ = placement_of(session, application_id=ids[0], run_id=first)
        after, _ = placement_of(session, application_id=new_id or 0, run_id=second)
        assert before.detail is not None and after.detail is not None
        assert before.detail["lottery"] == after.detail["lottery"]
        assert before.priority_key == after.priority_key
        runs = [session.get(AllocationRun, first), session.get(AllocationRun, second)]
        assert runs[0] is not None and runs[1] is not None
        assert runs[0].seed == runs[1].seed


def test_diff_lists_moved_children(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 50, batch="E")
    first = commit_run(engine, seed_source="1")
    second = commit_run(engine, seed_source="2")
    with Session(engine) as session:
        moves = diff_runs(session, first_id=first, second_id=second)
    # All 50 children tie on insurance months, so the lottery decides who is adjusted.
    assert moves
    assert all(move.before != move.after for move in moves)


def test_export_formats(engine: Engine, tmp_path: Path) -> None:
    with session_scope(engine) as session:
        add_children(session, 50)
    run_id = commit_run(engine)
    url = str(engine.url)
    runner = CliRunner()
    as_json = runner.invoke(
        cli, ["--db", url, "export", "allocation", "--run", str(run_id)]
    )
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert len(document["children"]) == 50
    assert "*" in document["children"][0]["student_id_number"]
    school = next(s for s in document["schools"] if s["code"] == SCHOOL)
    assert school["filled"] == 45
    assert school["fill_rate"] == 1.0

    csv_path = tmp_path / "allocation.csv"
    result = runner.invoke(
        cli,
        [
            "--db",
            url,
            "export",
            "allocation",
            "--county",
            "白银区",
            "--format",
            "csv",
            "-o",
            str(csv_path),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = csv_path.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 51
    assert (tmp_path / "allocation-schools.csv").exists()

    xlsx_path = tmp_path / "allocation.xlsx"
    result = runner.invoke(
        cli,
        [
            "--db",
            url,
            "export",
            "allocation",
            "--run",
            str(run_id),
            "--format",
            "xlsx",
            "-o",
            str(xlsx_path),
        ],
    )
    assert result.exit_code == 0, result.output
    from openpyxl import load_workbook

    workbook = load_workbook(xlsx_path, read_only=True)
    assert workbook.sheetnames == ["children", "schools", "run"]
    rows = list(workbook["children"].iter_rows(values_only=True))
    assert len(rows) == 51
    assert rows[0][0] == "application_id"


def test_export_missing_folder_rejected(engine: Engine, tmp_path: Path) -> None:
    with session_scope(engine) as session:
        add_children(session, 5)
    commit_run(engine)
    url = str(engine.url)
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("", encoding="utf-8")
    cases = [
        ("csv", tmp_path / "nodir" / "x.csv", "不存在"),
        ("xlsx", tmp_path / "nodir" / "x.xlsx", "不存在"),
        ("json", tmp_path / "nodir" / "x.json", "不存在"),
        ("csv", not_a_folder / "x.csv", "不是文件夹"),
    ]
    for fmt, path, problem in cases:
        result = CliRunner().invoke(
            cli,
            [
                "--db",
                url,
                "export",
                "allocation",
                "--county",
                "白银区",
                "--format",
                fmt,
                "-o",
                str(path),
            ],
        )
        assert result.exit_code == 1, result.output
        assert isinstance(result.exception, SystemExit), result.exception
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert str(path.parent) in result.output
        assert problem in result.output
    assert "mkdir -p" in result.output or "换一个输出路径" in result.output
    assert not (tmp_path / "nodir").exists()
    with Session(engine) as session:
        exports = session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "export.allocation")
        ).one()
    assert exports == 0


def test_concurrent_commits_supersede_on_sqlite(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 30)
    # Each commit waits here, before its transaction commits, for the other to arrive.
    # SQLite lets one writer in at a time, so the other is still waiting for the write
    # lock: the first stops waiting after the timeout and the second supersedes it.
    both_stored = threading.Barrier(2, timeout=3)
    errors: list[BaseException] = []

    def wait_for_other(done: int, total: int) -> None:
        try:
            both_stored.wait()
        except threading.BrokenBarrierError:
            pass

    def commit() -> None:
        try:
            commit_run(engine, on_progress=wait_for_other)
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=commit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with Session(engine) as session:
        states = dict(session.exec(select(AllocationRun.id, AllocationRun.state)).all())
    assert sorted(states.values()) == ["committed", "superseded"]
    newest = max(run_id for run_id in states if run_id is not None)
    assert states[newest] == "committed"


def test_junior_feeder_graduates_before_others(engine: Engine) -> None:
    with session_scope(engine) as session:
        open_window(
            session, year=2025, county_code=COUNTY, stage="junior", actor="tester"
        )
        junior = session.get(School, "620402J03")  # fed by 620402P06, 100 seats
        assert junior is not None
        junior.seats = 3
        session.add(junior)
        for school in session.exec(select(School).where(School.stage == "junior")):
            if school.code != "620402J03":
                school.seats = 0
                session.add(school)
        outsiders = add_children(
            session, 2, stage="junior", primary="620403P01", batch="A"
        )
        feeders = add_children(
            session, 2, stage="junior", primary="620402P06", start=10, batch="D"
        )
        for app_id in outsiders:
            application = session.get(Application, app_id)
            assert application is not None
            application.preferred_school_code = "620402J03"
            session.add(application)
    commit_run(engine, stage="junior")
    with Session(engine) as session:
        placed = {p.application_id: p for p in session.exec(select(Placement))}
    for app_id in feeders:
        assert placed[app_id].school_code == "620402J03"
        assert placed[app_id].phase == "zone"
    outcomes = sorted(placed[app_id].school_code or "" for app_id in outsiders)
    assert outcomes == ["", "620402J03"]
    assert all(placed[app_id].phase != "zone" for app_id in outsiders)


def test_place_lock_lowers_batch_of_other_family(engine: Engine) -> None:
    with session_scope(engine) as session:
        earlier = add_children(session, 1)
    first = commit_run(engine)
    with session_scope(engine) as session:
        approve_run(session, run_id=first, actor="chief")
        open_window(session, year=2026, county_code=COUNTY, actor="tester")
        season_2026 = session.exec(select(Season).where(Season.year == 2026)).one()
        source = session.get(Application, earlier[0])
        assert source is not None
        certificate = source.property_certificate_no
        guardian = source.guardian_id_number
        new_ids = add_children(session, 2, start=500, season_id=season_2026.id)
        other_family, same_family = (session.get(Application, i) for i in new_ids)
        assert other_family is not None and same_family is not None
        other_family.property_certificate_no = certificate
        same_family.property_certificate_no = certificate
        same_family.guardian_id_number = guardian
        session.add(other_family)
        session.add(same_family)
        season_id = season_2026.id
    with session_scope(engine) as session:
        report = run_allocation(
            session,
            season_id=season_id or 0,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    assert set(report.demoted) == {str(new_ids[0])}
    with Session(engine) as session:
        lowered, _ = placement_of(session, application_id=new_ids[0])
        sibling, _ = placement_of(session, application_id=new_ids[1])
    assert lowered.batch == "D"
    assert "学位锁定" in lowered.explanation
    assert sibling.batch == "A"
    # The child of the family that used the property before has an older sibling there.
    assert sibling.priority_key.split("|")[1] == "0"


def test_cli_approve_reopen_and_diff(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 50, batch="E")
    url = str(engine.url)
    runner = CliRunner()
    first = runner.invoke(
        cli, ["--db", url, "allocate", "--county", "620402", "--commit", "--json"]
    )
    assert first.exit_code == 0, first.output
    run_id = json.loads(first.output)["run_id"]

    approved = runner.invoke(
        cli, ["--db", url, "--operator", "chief", "allocate", "approve", str(run_id)]
    )
    assert approved.exit_code == 0, approved.output
    assert "chief" in approved.output

    refused = runner.invoke(
        cli, ["--db", url, "allocate", "--county", "620402", "--commit"]
    )
    assert refused.exit_code == 1
    assert "分配已锁定" in refused.output

    reopened = runner.invoke(
        cli, ["--db", url, "allocate", "reopen", str(run_id), "--reason", "申诉核实"]
    )
    assert reopened.exit_code == 0, reopened.output
    second = runner.invoke(
        cli,
        [
            "--db",
            url,
            "allocate",
            "--county",
            "620402",
            "--commit",
            "--seed-source",
            "x",
        ],
    )
    assert second.exit_code == 0, second.output

    diff = runner.invoke(
        cli, ["--db", url, "allocate", "diff", str(run_id), str(run_id + 1)]
    )
    assert diff.exit_code == 0, diff.output
    assert "名儿童结果不同" in diff.output
    verified = runner.invoke(cli, ["--db", url, "allocate", "verify", str(run_id + 1)])
    assert verified.exit_code == 0, verified.output
    assert "复核通过" in verified.output


def test_cli_requires_mode(engine: Engine) -> None:
    result = CliRunner().invoke(
        cli, ["--db", str(engine.url), "allocate", "--county", "白银区"]
    )
    assert result.exit_code == 2
    assert "--dry-run" in result.output


def test_cli_rejects_dry_run_with_commit(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 5)
    for flags in (["--dry-run", "--commit"], ["--commit", "--dry-run"]):
        result = CliRunner().invoke(
            cli, ["--db", str(engine.url), "allocate", "--county", "白银区", *flags]
        )
        assert result.exit_code == 2, result.output
        assert "--dry-run 与 --commit 不能同时使用" in result.output
    with Session(engine) as session:
        runs = session.exec(select(func.count()).select_from(AllocationRun)).one()
        statuses = set(session.exec(select(Application.status)).all())
    assert runs == 0
    assert statuses == {Status.CLASSIFIED}


def test_run_errors_chinese_state_local_time(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_children(session, 5)
    first = commit_run(engine)
    second = commit_run(engine)
    with session_scope(engine) as session:
        approve_run(session, run_id=second, actor="chief")
        run = session.get(AllocationRun, second)
        assert run is not None
        run.approved_at = datetime(2026, 12, 4, 16, 54, 2, 693404, tzinfo=UTC)

    with pytest.raises(AdmissionsError) as superseded, session_scope(engine) as session:
        approve_run(session, run_id=first, actor="chief")
    assert "已被替代" in superseded.value.message
    assert "superseded" not in superseded.value.message

    with pytest.raises(AdmissionsError) as approved, session_scope(engine) as session:
        approve_run(session, run_id=second, actor="chief")
    # Stored in UTC, shown in the bureau's time zone (UTC+8).
    assert "2026-12-05 00:54:02" in approved.value.message
    assert "+00:00" not in approved.value.message

    with pytest.raises(AdmissionsError) as reopen, session_scope(engine) as session:
        reopen_run(session, run_id=first, actor="chief", reason="更正")
    assert "已被替代" in reopen.value.message
    with Session(engine) as session:
        states = session.exec(select(AllocationRun.state)).all()
    assert sorted(states) == ["approved", "superseded"]


def test_cli_shows_chinese_run_states(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = add_children(session, 5)
    url = str(engine.url)
    runner = CliRunner()
    first = commit_run(engine)
    explained = runner.invoke(cli, ["--db", url, "allocate", "explain", str(ids[0])])
    assert explained.exit_code == 0, explained.output
    assert f"第 {first} 次分配（已保存待审定）" in explained.output
    assert "committed" not in explained.output

    second = commit_run(engine, seed_source="x")
    approved = runner.invoke(
        cli, ["--db", url, "--operator", "chief", "allocate", "approve", str(second)]
    )
    assert approved.exit_code == 0, approved.output
    assert re.search(r"于 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d 审定锁定", approved.output)
    assert "+00:00" not in approved.output
    explained = runner.invoke(cli, ["--db", url, "allocate", "explain", str(ids[0])])
    assert f"第 {second} 次分配（已审定）" in explained.output

    diff = runner.invoke(
        cli, ["--db", url, "allocate", "diff", str(first), str(second)]
    )
    assert diff.exit_code == 0, diff.output
    assert f"第 {first} 次（已被替代）" in diff.output
    assert f"第 {second} 次（已审定）" in diff.output

    again = runner.invoke(cli, ["--db", url, "allocate", "approve", str(first)])
    assert again.exit_code == 1
    assert "已被替代" in again.output
    assert "superseded" not in again.output


def test_junior_batch_c_goes_to_bureau_school(engine: Engine) -> None:
    with session_scope(engine) as session:
        open_window(
            session, year=2025, county_code=COUNTY, stage="junior", actor="tester"
        )
        (app_id,) = add_children(
            session, 1, stage="junior", primary="620402P06", batch="C"
        )
        application = session.get(Application, app_id)
        assert application is not None
        application.preferred_school_code = "620402J02"
        session.add(application)
    commit_run(engine, stage="junior")
    with Session(engine) as session:
        placement, _run = placement_of(session, application_id=app_id)
    assert placement.school_code == "620402J02"
    assert placement.phase == "zone"
    assert "教育局指定学校" in placement.explanation


def test_duplicate_child_gets_one_seat(engine: Engine) -> None:
    with session_scope(engine) as session:
        (first_id,) = add_children(session, 1)
        original = session.get(Application, first_id)
        assert original is not None
        copy = Application.model_validate(original.model_dump(exclude={"id"}))
        # The database allows one live application per ID number, so the copy differs
        # only by spaces, as a row edited by hand might.
        copy.student_id_number = f" {original.student_id_number} "
        session.add(copy)
        session.flush()
        copy_id = copy.id
    with session_scope(engine) as session:
        report = run_allocation(
            session,
            season_id=1,
            county_code=COUNTY,
            stage="primary",
            actor="tester",
            commit=True,
        )
    assert report.children == 1
    assert report.duplicates == {copy_id: first_id}
    with Session(engine) as session:
        duplicate = session.get(Application, copy_id)
        assert duplicate is not None
        assert duplicate.status == Status.EXCEPTION
        assert str(first_id) in duplicate.status_reason
        placements = session.exec(select(Placement)).all()
        assert [p.application_id for p in placements] == [first_id]
