"""Lookups and notices against the simulator's real services on loopback."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from console.cli import cli
from console.db import create_schema, make_engine
from console.models import Application, Lookup, Notice, Status, utcnow
from console.services.applicants import withdraw_application
from console.services.govclient import RetryPolicy
from console.services.intake import import_rows
from console.services.lookup import run_lookups
from console.services.notify import claim_notices, prepare_notices, send_notices
from console.services.reference import load_reference
from console.services.seasons import open_window
from simulator.families import generate_families, write_registry
from simulator.server import RunningServices, start_services

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, timeout=2.0)


@pytest.fixture()
def season(tmp_path: Path) -> tuple[Engine, int, Path]:
    engine = make_engine(f"sqlite:///{tmp_path / 'season.db'}")
    create_schema(engine)
    simulation = generate_families(
        county_code="620402",
        count=60,
        seed=5,
        year=2025,
        mismatch_rate=0.0,
        mistake_rate=0.0,
    )
    registry = tmp_path / "registry.json"
    write_registry(simulation, registry)
    with Session(engine) as session:
        load_reference(session)
        window = open_window(session, year=2025, county_code="620402", actor="tester")
        session.commit()
        import_rows(
            session, simulation.rows, window=window, source="simulator", actor="tester"
        )
        session.commit()
        season_id = window.season_id
    return engine, season_id, registry


@pytest.fixture()
def services(season: tuple[Engine, int, Path]) -> Iterator[RunningServices]:
    with start_services(season[2]) as running:
        yield running


def _successful_calls(engine: Engine) -> Counter[tuple[int, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(Lookup.application_id, Lookup.interface).where(
                Lookup.outcome != "failed"
            )
        )
        return Counter(rows)


def set_every_status(engine: Engine, status: Status, reason: str) -> None:
    """Put every application of the season in `status`, as the earlier steps would."""
    with Session(engine) as session:
        for application in session.exec(select(Application)):
            application.status = status
            application.status_reason = reason
            session.add(application)
        session.commit()


def _statuses(engine: Engine) -> Counter[str]:
    with Session(engine) as session:
        return Counter(session.exec(select(Application.status)))


def test_lookups_survive_random_server_errors(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    httpx.post(
        f"{services.url}/admin/faults/gov", json={"error_rate": 0.3}, timeout=5
    ).raise_for_status()
    report = run_lookups(
        engine,
        season_id=season_id,
        county_code="620402",
        base_url=services.url,
        actor="tester",
        retry=RetryPolicy(attempts=8, base_delay=0.01, max_delay=0.05),
    )
    assert report.incomplete == 0
    assert _statuses(engine)[Status.VERIFIED] == report.applications
    with Session(engine) as session:
        retried = session.exec(
            select(func.count()).select_from(Lookup).where(Lookup.attempts > 1)
        ).one()
    assert retried > 0


def test_outage_trips_breaker_and_rerun_resumes(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    httpx.post(
        f"{services.url}/admin/faults/gov", json={"outage": [0, 3600]}, timeout=5
    ).raise_for_status()
    down = run_lookups(
        engine,
        season_id=season_id,
        county_code="620402",
        base_url=services.url,
        actor="tester",
        retry=FAST_RETRY,
    )
    assert down.completed == 0
    assert down.incomplete == down.applications
    assert down.not_sent > 0
    with Session(engine) as session:
        phantom = session.exec(
            select(func.count()).select_from(Lookup).where(Lookup.attempts == 0)
        ).one()
    assert phantom == 0
    requests_during_outage = httpx.get(f"{services.url}/stats", timeout=5).json()[
        "requests"
    ]
    gov_requests = sum(v for k, v in requests_during_outage.items() if "/gov/" in k)
    # Without the breaker every call would be tried FAST_RETRY.attempts times.
    assert gov_requests < down.total_calls * FAST_RETRY.attempts / 2
    with Session(engine) as session:
        reasons = session.exec(
            select(Application.status_reason).where(
                Application.status == Status.SUBMITTED
            )
        ).all()
    assert all("待重试" in reason for reason in reasons)

    httpx.post(
        f"{services.url}/admin/faults/gov", json={}, timeout=5
    ).raise_for_status()
    up = run_lookups(
        engine,
        season_id=season_id,
        county_code="620402",
        base_url=services.url,
        actor="tester",
        retry=FAST_RETRY,
    )
    assert up.incomplete == 0
    assert max(_successful_calls(engine).values()) == 1


def test_interrupted_batch_repeats_no_finished_call(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season

    def stop_after_first_chunk(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_lookups(
            engine,
            season_id=season_id,
            county_code="620402",
            base_url=services.url,
            actor="tester",
            chunk_size=20,
            progress=stop_after_first_chunk,
        )
    first = _successful_calls(engine)
    assert 0 < len({a for a, _ in first}) <= 20
    report = run_lookups(
        engine,
        season_id=season_id,
        county_code="620402",
        base_url=services.url,
        actor="tester",
        chunk_size=20,
    )
    assert report.incomplete == 0
    calls = _successful_calls(engine)
    assert max(calls.values()) == 1
    assert all(calls[key] == 1 for key in first)


def test_overlapping_senders_send_each_notice_once(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    set_every_status(engine, Status.OFFLINE, "测试：线下核验")
    created = prepare_notices(engine, season_id=season_id, county_code="620402").created
    assert created > 0
    assert (
        prepare_notices(engine, season_id=season_id, county_code="620402").created == 0
    )

    errors: list[BaseException] = []

    # Slow sends in small batches, so that the three senders really run side by side.
    httpx.post(
        f"{services.url}/admin/faults/sms", json={"latency_ms": 30}, timeout=5
    ).raise_for_status()

    def sender() -> None:
        try:
            send_notices(
                engine,
                season_id=season_id,
                county_code="620402",
                base_url=services.url,
                concurrency=4,
                batch_size=5,
            )
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stats = httpx.get(f"{services.url}/stats", timeout=5).json()
    assert stats["requests"].get("/sms/send", 0) == created
    assert stats["messages"] == created
    with Session(engine) as session:
        states = Counter(session.exec(select(Notice.state)))
        texts = session.exec(
            select(Notice.text).where(
                col(Notice.text).contains("咨询电话：0943-8222115")
            )
        ).all()
    assert states == {"delivered": created}
    assert len(texts) == created


def test_failed_sms_is_retried_on_next_run(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    set_every_status(engine, Status.EXCEPTION, "测试：核验未通过")
    created = prepare_notices(engine, season_id=season_id, county_code="620402").created
    httpx.post(
        f"{services.url}/admin/faults/sms", json={"outage": [0, 3600]}, timeout=5
    ).raise_for_status()
    first = send_notices(
        engine, season_id=season_id, county_code="620402", base_url=services.url
    )
    # Notices the run never sent after the gateway reported itself down stay pending and
    # cost no attempt; the ones it tried are failed with one attempt each.
    assert first.states["failed"] + first.states["pending"] == created
    assert len(first.errors) == first.states["failed"]
    assert first.not_sent == first.states["pending"]
    with Session(engine) as session:
        attempts = Counter(session.exec(select(Notice.state, Notice.attempts)))
    assert attempts[("pending", 0)] == first.states["pending"]
    assert attempts[("failed", 1)] == first.states["failed"]
    httpx.post(
        f"{services.url}/admin/faults/sms", json={}, timeout=5
    ).raise_for_status()
    second = send_notices(
        engine, season_id=season_id, county_code="620402", base_url=services.url
    )
    assert second.errors == []
    assert second.states["delivered"] == created


def test_results_wait_for_an_approved_run(season) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    set_every_status(engine, Status.PLACED, "测试：已录取，分配未审定")
    with Session(engine) as session:
        placed = session.exec(select(func.count()).select_from(Application)).one()
    prepared = prepare_notices(engine, season_id=season_id, county_code="620402")
    assert prepared.created == 0
    assert prepared.awaiting_approval == placed


def test_rate_limited_gateway_delivers_everything(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    set_every_status(engine, Status.OFFLINE, "测试：线下核验")
    created = prepare_notices(engine, season_id=season_id, county_code="620402").created
    httpx.post(
        f"{services.url}/admin/faults/sms", json={"rate_limit": 40}, timeout=5
    ).raise_for_status()
    report = send_notices(
        engine, season_id=season_id, county_code="620402", base_url=services.url
    )
    assert report.errors == []
    assert report.states["delivered"] == created
    statuses = httpx.get(f"{services.url}/stats", timeout=5).json()["statuses"]
    assert any("429" in str(key) for key in statuses)


def test_concurrent_lookup_runs_split_the_work(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    httpx.post(
        f"{services.url}/admin/faults/gov", json={"latency_ms": 20}, timeout=5
    ).raise_for_status()
    reports = []

    def run() -> None:
        reports.append(
            run_lookups(
                engine,
                season_id=season_id,
                county_code="620402",
                base_url=services.url,
                actor="tester",
                chunk_size=10,
                concurrency=4,
            )
        )

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls = _successful_calls(engine)
    assert max(calls.values()) == 1
    assert sum(r.applications for r in reports) == _statuses(engine)[Status.VERIFIED]
    assert all(r.applications > 0 for r in reports)


def test_interrupt_mid_chunk_keeps_finished_calls(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    httpx.post(
        f"{services.url}/admin/faults/gov", json={"latency_ms": 50}, timeout=5
    ).raise_for_status()
    timer = threading.Timer(0.6, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_lookups(
            engine,
            season_id=season_id,
            county_code="620402",
            base_url=services.url,
            actor="tester",
            chunk_size=200,
            concurrency=4,
        )
    timer.cancel()
    requests = httpx.get(f"{services.url}/stats", timeout=5).json()["requests"]
    gov_requests = sum(
        count for path, count in requests.items() if path.startswith("/gov/")
    )
    stored = sum(_successful_calls(engine).values())
    assert 0 < stored
    assert stored == gov_requests
    assert _statuses(engine)[Status.SUBMITTED] > 0  # the interrupt came mid-chunk
    with Session(engine) as session:
        claimed = session.exec(
            select(func.count())
            .select_from(Application)
            .where(col(Application.lookup_token).is_not(None))
        ).one()
    assert claimed == 0

    httpx.post(
        f"{services.url}/admin/faults/gov", json={}, timeout=5
    ).raise_for_status()
    run_lookups(
        engine,
        season_id=season_id,
        county_code="620402",
        base_url=services.url,
        actor="tester",
    )
    assert max(_successful_calls(engine).values()) == 1


def test_interrupted_notify_keeps_sent_and_releases_rest(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    set_every_status(engine, Status.OFFLINE, "测试：线下核验")
    created = prepare_notices(engine, season_id=season_id, county_code="620402").created
    httpx.post(
        f"{services.url}/admin/faults/sms", json={"latency_ms": 100}, timeout=5
    ).raise_for_status()
    # A real SIGINT, as Ctrl-C sends, so that it interrupts the wait for the senders.
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        send_notices(
            engine,
            season_id=season_id,
            county_code="620402",
            base_url=services.url,
            concurrency=4,
        )
    timer.cancel()
    accepted = httpx.get(f"{services.url}/stats", timeout=5).json()["messages"]
    with Session(engine) as session:
        states = Counter(session.exec(select(Notice.state)))
    assert 0 < accepted < created
    assert states["sent"] == accepted
    assert states["sending"] == 0
    assert states["pending"] == created - accepted

    httpx.post(
        f"{services.url}/admin/faults/sms", json={}, timeout=5
    ).raise_for_status()
    report = send_notices(
        engine, season_id=season_id, county_code="620402", base_url=services.url
    )
    assert report.states["delivered"] == created
    assert httpx.get(f"{services.url}/stats", timeout=5).json()["messages"] == created


def test_lookup_command_prints_progress_and_summary(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, _, _ = season
    result = CliRunner().invoke(cli, [
        "--db", str(engine.url), "lookup", "--county", "白银区",
        "--services", services.url,
    ])  # fmt: skip

    assert result.exit_code == 0, result.output
    # One chunk of 60 applications: the first call is also the last.
    assert "已查询申请 60/60（100%）" in result.stderr
    assert "查询完成：申请 60 份" in result.stdout
    assert _statuses(engine)[Status.VERIFIED] == 60


def test_notify_reports_progress_per_batch(season, services) -> None:  # type: ignore[no-untyped-def]
    engine, season_id, _ = season
    set_every_status(engine, Status.OFFLINE, "测试：线下核验")
    created = prepare_notices(engine, season_id=season_id, county_code="620402").created
    seen: list[tuple[int, int]] = []

    send_notices(
        engine, season_id=season_id, county_code="620402", base_url=services.url,
        batch_size=25, progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip

    expected = list(range(25, created, 25)) + [created]
    assert seen == [(done, created) for done in expected]


def test_withdrawal_cancels_notice_of_dead_sender(season, services) -> None:  # type: ignore[no-untyped-def]
    """A sender died holding a notice; the family withdraws; the next run must not send it."""
    engine, season_id, _ = season
    set_every_status(engine, Status.EXCEPTION, "测试：核验未通过")
    created = prepare_notices(engine, season_id=season_id, county_code="620402").created
    _token, claimed = claim_notices(
        engine, season_id=season_id, county_code="620402", limit=1
    )
    notice_id = claimed[0].id
    application_id = claimed[0].application_id
    with Session(engine) as session:
        # The dead sender's claim is older than the lease, so a new run takes it over.
        row = session.get(Notice, notice_id)
        assert row is not None
        row.claimed_at = utcnow() - timedelta(hours=1)
        session.add(row)
        withdraw_application(
            session, str(application_id), actor="tester", reason="家长申请撤回"
        )
        session.commit()

    report = send_notices(
        engine, season_id=season_id, county_code="620402", base_url=services.url
    )

    with Session(engine) as session:
        row = session.get(Notice, notice_id)
    assert row is not None
    assert row.state == "cancelled"
    assert row.gateway_message_id is None
    assert report.sent_now == created - 1
    stats = httpx.get(f"{services.url}/stats", timeout=5).json()
    assert stats["messages"] == created - 1
