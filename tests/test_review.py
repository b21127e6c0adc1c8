"""The bureau's review queues on a real SQLite file, with reviewers racing.

Every name, ID number and mobile here is made up.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from console.cli import cli
from console.db import create_schema, make_engine, session_scope
from console.errors import AdmissionsError
from console.models import (
    Application,
    AuditEvent,
    Notice,
    Placement,
    ReviewItem,
    Status,
    Window,
    utcnow,
)
from console.services.allocation import run_allocation
from console.services.applicants import withdraw_application
from console.services.intake import import_rows
from console.services.notify import prepare_notices
from console.services.reference import load_reference
from console.services.review import claim_next, decide, list_items, sync_queue
from console.services.seasons import open_window
from console.services.stats import season_stats
from tests.postgres import postgres_schema
from tests.test_import_files import make_row

EXCEPTIONS = 12
SCHOOL = "620402P01"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A season with twelve exceptions and one batch C child, as classify leaves them."""
    url = f"sqlite:///{tmp_path / 'season.db'}"
    engine = make_engine(url)
    create_schema(engine)
    fill_season(engine)
    engine.dispose()
    return url


def fill_season(engine: Engine) -> None:
    """Open the window and store the applications, as classify leaves them."""
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code="620402", actor="tester")
        window = session.scalars(select(Window)).one()
    import_rows(engine, [make_row(i) for i in range(EXCEPTIONS + 2)], window=window,
                source="import", actor="tester")  # fmt: skip
    with session_scope(engine) as session:
        for application in session.exec(select(Application)).all():
            if application.id is not None and application.id <= EXCEPTIONS:
                application.status = Status.EXCEPTION
                application.status_reason = "学生姓名与户籍登记不一致"
            elif application.id == EXCEPTIONS + 1:
                application.status = Status.CLASSIFIED
                application.batch = "C"
                application.zone_school_code = application.preferred_school_code
            session.add(application)


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """The same season in a schema of its own on the PostgreSQL server."""
    with postgres_schema("review") as engine:
        create_schema(engine)
        fill_season(engine)
        yield engine


def season_id(engine: Engine) -> int:
    with Session(engine) as session:
        window = session.exec(select(Window)).one()
        return window.season_id


def race_reviewers(engine: Engine) -> None:
    """Let four reviewers empty the exception queue at once; each item once."""
    season = season_id(engine)
    decided: list[tuple[str, int]] = []
    errors: list[BaseException] = []

    def reviewer(name: str) -> None:
        try:
            while True:
                claimed = claim_next(engine, season_id=season, county_code="620402",
                                     queue="exception", reviewer=name)  # fmt: skip
                if claimed is None:
                    return
                item, _application = claimed
                assert item.id is not None
                decide(engine, item.id, reviewer=name, accept=False,
                       reason="材料与登记信息不符")  # fmt: skip
                decided.append((name, item.id))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [
        threading.Thread(target=reviewer, args=(f"审核员{n}",)) for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    items = Counter(item_id for _name, item_id in decided)
    assert len(items) == EXCEPTIONS
    assert max(items.values()) == 1
    with Session(engine) as session:
        rows = session.exec(select(ReviewItem)).all()
        assert {row.state for row in rows} == {"decided"}
        assert all(row.decided_by and row.decided_at and row.reason for row in rows)
        statuses = Counter(session.exec(select(Application.status)).all())
    assert statuses[Status.REJECTED] == EXCEPTIONS


def test_racing_reviewers_never_share_an_item(engine: Engine) -> None:
    race_reviewers(engine)


@pytest.mark.postgres
def test_racing_reviewers_on_postgres(postgres_engine: Engine) -> None:
    race_reviewers(postgres_engine)


def test_accept_classifies_with_batch_and_school(engine: Engine) -> None:
    season = season_id(engine)
    claimed = claim_next(engine, season_id=season, county_code="620402",
                         queue="exception", reviewer="审核员甲")  # fmt: skip
    assert claimed is not None
    item, application = claimed
    assert item.id is not None

    decide(engine, item.id, reviewer="审核员甲", accept=True, batch="D",
           school_code=SCHOOL, reason="已核对户口簿原件，姓名为登记错误")  # fmt: skip

    with Session(engine) as session:
        stored = session.get(Application, application.id)
        assert stored is not None
        assert stored.status == Status.CLASSIFIED
        assert stored.batch == "D"
        assert stored.zone_school_code == SCHOOL
        assert "已核对户口簿原件，姓名为登记错误" in stored.batch_reason
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "review.decide")
        ).one()
    assert event.actor == "审核员甲"
    assert event.entity_id == str(application.id)
    assert event.detail is not None
    assert (event.detail["decision"], event.detail["batch"]) == ("accept", "D")


def test_decide_needs_own_claim_reason_and_valid_school(engine: Engine) -> None:
    season = season_id(engine)
    claimed = claim_next(engine, season_id=season, county_code="620402",
                         queue="exception", reviewer="审核员甲")  # fmt: skip
    assert claimed is not None
    item_id = claimed[0].id
    assert item_id is not None

    with pytest.raises(AdmissionsError, match="正由 审核员甲 审核"):
        decide(engine, item_id, reviewer="审核员乙", accept=False, reason="不符")
    with pytest.raises(AdmissionsError, match="必须说明原因"):
        decide(engine, item_id, reviewer="审核员甲", accept=False, reason="  ")
    with pytest.raises(AdmissionsError, match="不是本区县本学段的学校"):
        decide(engine, item_id, reviewer="审核员甲", accept=True, batch="A",
               school_code="620403P01", reason="已核对")  # fmt: skip
    with pytest.raises(AdmissionsError, match="--batch"):
        decide(engine, item_id, reviewer="审核员甲", accept=True, school_code=SCHOOL,
               reason="已核对")  # fmt: skip
    # A reviewer who runs next again gets the same item, not a second one.
    again = claim_next(engine, season_id=season, county_code="620402",
                       queue="exception", reviewer="审核员甲")  # fmt: skip
    assert again is not None
    assert again[0].id == item_id


def test_expired_claim_taken_over(engine: Engine) -> None:
    season = season_id(engine)
    first = claim_next(engine, season_id=season, county_code="620402",
                       queue="exception", reviewer="审核员甲")  # fmt: skip
    assert first is not None
    with Session(engine) as session:
        for item in session.exec(select(ReviewItem)).all():
            if item.state == "claimed":
                item.claimed_at = utcnow() - timedelta(hours=1)
            else:  # only the abandoned item is left to take
                item.state = "decided"
            session.add(item)
        session.commit()

    takeover = claim_next(engine, season_id=season, county_code="620402",
                          queue="exception", reviewer="审核员乙")  # fmt: skip

    assert takeover is not None
    assert takeover[0].id == first[0].id
    assert takeover[0].claimed_by == "审核员乙"


def test_batch_c_child_gets_one_item(engine: Engine) -> None:
    season = season_id(engine)
    assert sync_queue(engine, season_id=season, county_code="620402",
                      queue="batch_c") == 1  # fmt: skip
    claimed = claim_next(engine, season_id=season, county_code="620402",
                         queue="batch_c", reviewer="审核员甲")  # fmt: skip
    assert claimed is not None
    item, application = claimed
    assert item.id is not None

    decide(engine, item.id, reviewer="审核员甲", accept=True, batch="C",
           school_code="620402P02", reason="现役军人子女，安排至驻地附近学校")  # fmt: skip

    assert sync_queue(engine, season_id=season, county_code="620402",
                      queue="batch_c") == 0  # fmt: skip
    with Session(engine) as session:
        stored = session.get(Application, application.id)
        assert stored is not None
        assert (stored.batch, stored.zone_school_code) == ("C", "620402P02")
        open_items = session.exec(
            select(ReviewItem).where(
                col(ReviewItem.state) != "decided", ReviewItem.queue == "batch_c"
            )  # fmt: skip
        ).all()
    assert open_items == []


def test_review_commands_mask_numbers(db_url: str) -> None:
    runner = CliRunner()
    base = ["--db", db_url, "--operator", "审核员甲", "review"]

    listed = runner.invoke(cli, [*base, "list", "--county", "白银区"])
    claimed_output = runner.invoke(cli, [*base, "next", "--county", "白银区"])
    decided = runner.invoke(cli, [*base, "decide", "1", "--reject", "--reason",
                                  "户籍信息不符"])  # fmt: skip

    assert listed.exit_code == 0, listed.output
    assert f"异常待审：共 {EXCEPTIONS} 项" in listed.output
    assert claimed_output.exit_code == 0, claimed_output.output
    assert "********" in claimed_output.output
    assert make_row(0)["student_id_number"] not in claimed_output.output + listed.output
    assert decided.exit_code == 0, decided.output
    assert "不予受理" in decided.output


def test_school_confirms_or_returns_its_children(engine: Engine) -> None:
    season = season_id(engine)
    with Session(engine) as session:
        for application in session.exec(select(Application)).all():
            if application.id in (1, 2, 3):
                application.status = Status.CLASSIFIED
                application.batch = "A"
                application.zone_school_code = (
                    SCHOOL if application.id < 3 else "620402P02"
                )
                session.add(application)
        session.commit()

    with pytest.raises(AdmissionsError, match="--school"):
        claim_next(engine, season_id=season, county_code="620402", queue="school",
                   reviewer="人民路小学")  # fmt: skip
    first = claim_next(engine, season_id=season, county_code="620402", queue="school",
                       reviewer="人民路小学", school_code=SCHOOL)  # fmt: skip
    assert first is not None
    assert first[1].zone_school_code == SCHOOL
    assert first[0].id is not None
    decide(engine, first[0].id, reviewer="人民路小学", accept=True, reason="已核对住址")
    second = claim_next(engine, season_id=season, county_code="620402", queue="school",
                        reviewer="人民路小学", school_code=SCHOOL)  # fmt: skip
    assert second is not None
    assert second[0].id is not None
    with pytest.raises(AdmissionsError, match="不改批次和学校"):
        decide(engine, second[0].id, reviewer="人民路小学", accept=True, batch="B",
               reason="改批次")  # fmt: skip
    decide(engine, second[0].id, reviewer="人民路小学", accept=False,
           reason="该户实际住在公园路片区")  # fmt: skip

    # Only the two children of this school were in its queue.
    assert claim_next(engine, season_id=season, county_code="620402", queue="school",
                      reviewer="人民路小学", school_code=SCHOOL) is None  # fmt: skip
    with Session(engine) as session:
        confirmed = session.get(Application, first[1].id)
        returned = session.get(Application, second[1].id)
        assert confirmed is not None and returned is not None
        assert confirmed.status == Status.CLASSIFIED
        assert returned.status == Status.EXCEPTION
        assert "该户实际住在公园路片区" in returned.status_reason
    # The returned child is now in the bureau's exception queue.
    sync_queue(engine, season_id=season, county_code="620402", queue="exception")
    with Session(engine) as session:
        queued = list_items(session, season_id=season, county_code="620402",
                            queue="exception")  # fmt: skip
    assert second[1].id in {application.id for _item, application in queued}


def test_stats_count_each_queue(engine: Engine) -> None:
    season = season_id(engine)
    claimed = claim_next(engine, season_id=season, county_code="620402",
                         queue="exception", reviewer="审核员甲")  # fmt: skip
    assert claimed is not None and claimed[0].id is not None
    decide(engine, claimed[0].id, reviewer="审核员甲", accept=False, reason="不符")
    claim_next(engine, season_id=season, county_code="620402", queue="exception",
               reviewer="审核员乙")  # fmt: skip

    with session_scope(engine) as session:
        reviews = season_stats(session, county_code="620402").reviews

    assert reviews["exception"] == {
        "waiting": EXCEPTIONS - 2, "in_review": 1, "decided": 1,
    }  # fmt: skip
    # No reviewer has listed or claimed the batch C queue yet, so its child counts as waiting.
    assert reviews["batch_c"] == {"waiting": 1, "in_review": 0, "decided": 0}


def claim_first(engine: Engine, reviewer: str, queue: str = "exception") -> int:
    """Claim the next item of `queue` for `reviewer` and return its id."""
    claimed = claim_next(engine, season_id=season_id(engine), county_code="620402",
                         queue=queue, reviewer=reviewer)  # fmt: skip
    assert claimed is not None
    assert claimed[0].id is not None
    return claimed[0].id


def test_same_item_decided_once_on_postgres(postgres_engine: Engine) -> None:
    """Two terminals of one reviewer decide one item at once, and one decision is stored."""
    item_id = claim_first(postgres_engine, "审核员甲")
    with Session(postgres_engine) as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        application_id = item.application_id
    outcomes: list[str] = []

    def decide_as(accept: bool) -> None:
        try:
            decide(postgres_engine, item_id, reviewer="审核员甲", accept=accept,
                   batch="A", school_code=SCHOOL, reason="已核对原件")  # fmt: skip
            outcomes.append("decided")
        except AdmissionsError as error:
            outcomes.append(error.title)

    # A third session locks the application's row, so that both decisions have read
    # the item before either can write; then both go on at once.
    with postgres_engine.connect() as blocker:
        blocker.execute(
            text("UPDATE application SET updated_at = updated_at WHERE id = :id"),
            {"id": application_id},
        )
        threads = [threading.Thread(target=decide_as, args=(accept,))
                   for accept in (True, False)]  # fmt: skip
        for thread in threads:
            thread.start()
        threading.Event().wait(1.0)
        blocker.commit()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["decided", "审核项已决定"]
    with Session(postgres_engine) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "review.decide")
        ).all()
        application = session.get(Application, application_id)
        item = session.get(ReviewItem, item_id)
    assert len(events) == 1
    assert item is not None
    assert application is not None
    expected = Status.CLASSIFIED if item.decision == "accept" else Status.REJECTED
    assert application.status == expected


def test_withdrawn_application_not_decided(db_url: str, engine: Engine) -> None:
    item_id = claim_first(engine, "审核员甲")
    with Session(engine) as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        application_id = item.application_id
    runner = CliRunner()
    withdrawn = runner.invoke(cli, ["--db", db_url, "applicants", "withdraw",
                                    str(application_id), "--reason", "家长申请撤回"])  # fmt: skip
    assert withdrawn.exit_code == 0, withdrawn.output

    for accept in (True, False):
        with pytest.raises(AdmissionsError, match="已关闭"):
            decide(engine, item_id, reviewer="审核员甲", accept=accept, batch="A",
                   school_code=SCHOOL, reason="已核对原件")  # fmt: skip

    with Session(engine) as session:
        application = session.get(Application, application_id)
        item = session.get(ReviewItem, item_id)
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "review.decide")
        ).all()
    assert application is not None
    assert application.status == Status.WITHDRAWN
    assert item is not None
    assert item.state == "closed"
    assert events == []


def test_accept_cancels_exception_sms(engine: Engine) -> None:
    """The exception SMS reports a failed check, so after acceptance it must not be sent."""
    prepare_notices(engine, season_id=season_id(engine), county_code="620402")
    item_id = claim_first(engine, "审核员甲")

    _item, application = decide(engine, item_id, reviewer="审核员甲", accept=True,
                                batch="A", school_code=SCHOOL, reason="已核对原件")  # fmt: skip

    with Session(engine) as session:
        states = session.exec(
            select(Notice.state).where(Notice.application_id == application.id)
        ).all()
    assert states == ["cancelled"]


def test_allocation_uses_decided_batch_c_school(engine: Engine) -> None:
    item_id = claim_first(engine, "审核员甲", queue="batch_c")
    _item, application = decide(engine, item_id, reviewer="审核员甲", accept=True,
                                batch="C", school_code="620402P09",
                                reason="现役军人子女，安排至驻地附近学校")  # fmt: skip
    assert application.preferred_school_code != "620402P09"

    with Session(engine) as session:
        run_allocation(session, season_id=season_id(engine), county_code="620402",
                       stage="primary", actor="审核员甲", commit=True)  # fmt: skip
        session.commit()
        placement = session.exec(
            select(Placement).where(Placement.application_id == application.id)
        ).one()
    assert placement.school_code == "620402P09"
    assert placement.batch == "C"


@pytest.mark.parametrize("reason", ["\u200b", " \u3000\ufeff ", "\u200b\n\u200d"])
def test_invisible_reason_refused(engine: Engine, reason: str) -> None:
    item_id = claim_first(engine, "审核员甲")

    with pytest.raises(AdmissionsError, match="必须说明原因"):
        decide(engine, item_id, reviewer="审核员甲", accept=False, reason=reason)
    with (
        Session(engine) as session,
        pytest.raises(AdmissionsError, match="必须说明原因"),
    ):
        withdraw_application(session, "1", actor="审核员甲", reason=reason)


def test_reason_keeps_full_width_punctuation(engine: Engine) -> None:
    item_id = claim_first(engine, "审核员甲")
    reason = "材料不符：产权人非监护人（见复印件），不予受理。"

    item, application = decide(engine, item_id, reviewer="审核员甲", accept=False,
                               reason=f"  {reason}\u200b ")  # fmt: skip

    assert item.reason == reason
    assert application.status_reason == f"不予受理：{reason}"


def test_items_closed_when_application_ends(engine: Engine) -> None:
    season = season_id(engine)
    claimed = claim_next(engine, season_id=season, county_code="620402",
                         queue="exception", reviewer="审核员甲")  # fmt: skip
    assert claimed is not None

    with Session(engine) as session:
        withdraw_application(session, str(claimed[1].id), actor="接待员",
                             reason="家长申请撤回")  # fmt: skip
        session.commit()

    with Session(engine) as session:
        item = session.get(ReviewItem, claimed[0].id)
        assert item is not None
        assert item.state == "closed"
        reviews = season_stats(session, county_code="620402").reviews
    # The closed item neither waits nor counts as being reviewed.
    assert reviews["exception"] == {
        "waiting": EXCEPTIONS - 1, "in_review": 0, "decided": 0,
    }  # fmt: skip


def test_exception_accepted_as_c_needs_no_second_review(engine: Engine) -> None:
    season = season_id(engine)
    claimed = claim_next(engine, season_id=season, county_code="620402",
                         queue="exception", reviewer="审核员甲")  # fmt: skip
    assert claimed is not None and claimed[0].id is not None

    decide(engine, claimed[0].id, reviewer="审核员甲", accept=True, batch="C",
           school_code="620402P09", reason="消防救援人员子女，材料齐全")  # fmt: skip
    sync_queue(engine, season_id=season, county_code="620402", queue="batch_c")

    with Session(engine) as session:
        items = session.exec(select(ReviewItem).where(
            ReviewItem.application_id == claimed[1].id,
            ReviewItem.queue == "batch_c")).all()  # fmt: skip
    assert [(item.state, item.school_code, item.decided_by) for item in items] == [
        ("decided", "620402P09", "审核员甲")
    ]


def place_in_zone(engine: Engine, zones: dict[int, str]) -> None:
    """Classify applications as batch A children of the given zone schools."""
    with Session(engine) as session:
        for application_id, school in zones.items():
            application = session.get(Application, application_id)
            assert application is not None
            application.status = Status.CLASSIFIED
            application.batch = "A"
            application.zone_school_code = school
            application.preferred_school_code = SCHOOL
            session.add(application)
        session.commit()


@pytest.mark.parametrize("code", ["NOPE", "620403P01", ""])
def test_school_queue_rejects_unknown_school(engine: Engine, code: str) -> None:
    season = season_id(engine)
    place_in_zone(engine, {1: SCHOOL})
    expected = "--school" if not code else f"学校代码 {code} 不是本区县的学校"
    with pytest.raises(AdmissionsError, match=expected):
        claim_next(engine, season_id=season, county_code="620402", queue="school",
                   reviewer="人民路小学", school_code=code)  # fmt: skip
    with Session(engine) as session, pytest.raises(AdmissionsError, match=expected):
        list_items(session, season_id=season, county_code="620402", queue="school",
                   school_code=code)  # fmt: skip


def test_school_code_typed_loosely_still_found(engine: Engine) -> None:
    season = season_id(engine)
    place_in_zone(engine, {1: SCHOOL})
    claimed = claim_next(engine, season_id=season, county_code="620402",
                         queue="school", reviewer="人民路小学",
                         school_code=f" {SCHOOL.lower()} ")  # fmt: skip
    assert claimed is not None
    assert claimed[1].id == 1


def test_school_return_of_withdrawn_child_refused(engine: Engine) -> None:
    from console.services.applicants import withdraw_application

    season = season_id(engine)
    place_in_zone(engine, {1: SCHOOL})
    claimed = claim_next(engine, season_id=season, county_code="620402",
                         queue="school", reviewer="人民路小学", school_code=SCHOOL)  # fmt: skip
    assert claimed is not None and claimed[0].id is not None
    with session_scope(engine) as session:
        withdraw_application(session, "1", actor="接待员", reason="家长申请撤回")

    with pytest.raises(AdmissionsError, match="已关闭"):
        decide(engine, claimed[0].id, reviewer="人民路小学", accept=False,
               reason="住址不符")  # fmt: skip
    with Session(engine) as session:
        application = session.get(Application, 1)
        assert application is not None
        assert application.status == Status.WITHDRAWN


def test_stats_of_school_count_its_own_queue(engine: Engine) -> None:
    season = season_id(engine)
    # Child 2 prefers SCHOOL but belongs to the queue of its zone school P02.
    place_in_zone(engine, {1: SCHOOL, 2: "620402P02"})
    sync_queue(engine, season_id=season, county_code="620402", queue="school")
    with Session(engine) as session:
        queued = list_items(session, season_id=season, county_code="620402",
                            queue="school", school_code=SCHOOL)  # fmt: skip
    assert len(queued) == 1

    with session_scope(engine) as session:
        reviews = season_stats(
            session, county_code="620402", school_code=SCHOOL
        ).reviews

    assert reviews["school"] == {"waiting": 1, "in_review": 0, "decided": 0}


@pytest.mark.parametrize("flags", [["--accept", "--reject"], ["--reject", "--accept"]])
def test_decide_with_both_flags_rejected(db_url: str, flags: list[str]) -> None:
    runner = CliRunner()
    base = ["--db", db_url, "--operator", "审核员甲", "review"]
    claimed = runner.invoke(cli, [*base, "next", "--county", "白银区"])
    assert claimed.exit_code == 0, claimed.output

    decided = runner.invoke(cli, [*base, "decide", "1", *flags, "--batch", "A",
                                  "--school", SCHOOL, "--reason", "已核对"])  # fmt: skip

    assert decided.exit_code == 2, decided.output
    assert "--accept" in decided.output
    assert "--reject" in decided.output
    engine = make_engine(db_url)
    with Session(engine) as session:
        item = session.get(ReviewItem, 1)
        assert item is not None
        assert item.state == "claimed"
        application = session.get(Application, item.application_id)
        assert application is not None
        assert application.status == Status.EXCEPTION
    engine.dispose()


def test_list_agrees_with_stats_after_allocation(db_url: str, engine: Engine) -> None:
    runner = CliRunner()
    base = ["--db", db_url, "review", "list", "--county", "白银区", "--queue"]
    before = runner.invoke(cli, [*base, "batch_c", "--json"])
    assert before.exit_code == 0, before.output
    assert [row["state"] for row in json.loads(before.output)["items"]] == ["open"]

    with Session(engine) as session:
        run_allocation(session, season_id=season_id(engine), county_code="620402",
                       stage="primary", actor="审核员甲", commit=True)  # fmt: skip
        session.commit()
        waiting = season_stats(session, county_code="620402").reviews["batch_c"]
    assert waiting["waiting"] == 0

    listed = runner.invoke(cli, [*base, "batch_c"])
    as_json = runner.invoke(cli, [*base, "batch_c", "--json"])
    claimed = runner.invoke(cli, ["--db", db_url, "--operator", "审核员甲", "review",
                                  "next", "--county", "白银区", "--queue", "batch_c"])  # fmt: skip

    assert claimed.exit_code == 0, claimed.output
    assert "没有待领取的项" in claimed.output
    assert listed.exit_code == 0, listed.output
    assert "待领取" not in listed.output
    assert "不在队列（已录取）" in listed.output
    items = json.loads(as_json.output)["items"]
    assert [row["in_queue"] for row in items] == [False]


def test_unclaimed_hint_runs_as_printed(db_url: str) -> None:
    runner = CliRunner()
    base = ["--db", db_url, "--operator", "审核员甲", "review"]
    listed = runner.invoke(cli, [*base, "list", "--county", "白银区"])
    assert listed.exit_code == 0, listed.output

    decided = runner.invoke(cli, [*base, "decide", "1", "--reject", "--reason", "不符"])

    assert decided.exit_code == 1, decided.output
    hint = "admissions review next --county 620402 --queue exception"
    assert hint in decided.output
    claimed = runner.invoke(cli, ["--db", db_url, "--operator", "审核员甲",
                                  *hint.split()[1:]])  # fmt: skip
    assert claimed.exit_code == 0, claimed.output
    assert "异常待审 第 1 项" in claimed.output
