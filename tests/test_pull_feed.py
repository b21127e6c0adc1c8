"""`admissions pull` against feeds served over loopback HTTP.

Most tests use a small feed app defined here and run by uvicorn in a thread, so
that a test can make it fail at a chosen page. The last ones pull the simulator's
feed from its subprocess. Every name, ID number and mobile here is made up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from console.cli import cli
from console.db import create_schema, make_engine, session_scope
from console.errors import AdmissionsError, ServiceUnavailableError
from console.models import Application, FeedCursor
from console.services.feed import feed_endpoint, pull_feed
from console.services.reference import load_reference
from console.services.seasons import open_window
from simulator.families import Simulation, generate_families, write_registry
from simulator.server import start_services
from tests.test_import_files import make_row


class FeedState:
    def __init__(self, items: list[dict[str, str]]) -> None:
        self.items = items
        self.fail_from_page: int | None = None  # pages from this one return HTTP 503
        self.throttle_next = 0  # this many requests return HTTP 429 first
        self.pages_served = 0
        self.requests: list[dict[str, str]] = []


def make_feed_app(state: FeedState) -> FastAPI:
    app = FastAPI()

    @app.get("/platform/applications")
    async def applications(request: Request) -> Response:
        params = dict(request.query_params)
        state.requests.append(params)
        if state.throttle_next > 0:
            state.throttle_next -= 1
            return JSONResponse(
                {"error": "rate limit"}, 429, headers={"Retry-After": "2"}
            )
        if (
            state.fail_from_page is not None
            and state.pages_served >= state.fail_from_page
        ):
            return JSONResponse({"error": "outage"}, 503)
        after = params.get("after")
        if after is not None and not after.startswith("c"):
            return JSONResponse(
                {"error": "unknown cursor; start again without after"}, 400
            )
        start = int(after[1:]) if after else 0
        limit = int(params.get("limit", "100"))
        items = state.items[start : start + limit]
        state.pages_served += 1
        end = start + len(items)
        return JSONResponse({
            "items": items,
            "next_cursor": f"c{end}" if items else after,
            "has_more": end < len(state.items),
        })  # fmt: skip

    return app


@pytest.fixture
def feed() -> Iterator[tuple[str, FeedState]]:
    items = [{"submission_id": f"P2025{i:05d}", **make_row(i)} for i in range(25)]
    state = FeedState(items)
    config = uvicorn.Config(make_feed_app(state), host="127.0.0.1", port=0,
                            log_level="warning", lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", state
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'season.db'}")
    create_schema(engine)
    with session_scope(engine) as session:
        load_reference(session)
        open_window(session, year=2025, county_code="620402", actor="tester")
    return engine


def count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Application)) or 0


def no_sleep(_seconds: float) -> None:
    return None


def test_endpoint_from_base_url() -> None:
    assert (
        feed_endpoint("http://127.0.0.1:8700/")
        == "http://127.0.0.1:8700/platform/applications"
    )
    assert feed_endpoint("http://127.0.0.1:8700/platform/applications") == (
        "http://127.0.0.1:8700/platform/applications"
    )
    with pytest.raises(AdmissionsError):
        feed_endpoint("127.0.0.1:8700")


def test_pull_reads_every_page(engine: Engine, feed: tuple[str, FeedState]) -> None:
    url, state = feed
    report = pull_feed(engine, url=url, actor="tester", page_size=10)
    assert (report.pages, report.items, report.stored) == (3, 25, 25)
    assert count(engine) == 25
    with session_scope(engine) as session:
        stored = session.scalars(select(FeedCursor)).one()
        refs = set(session.scalars(select(Application.external_ref)))
        sources = set(session.scalars(select(Application.source)))
    assert stored.cursor == "c25"
    assert stored.items_read == 25
    assert "P202500024" in refs
    assert sources == {"feed"}


def test_pull_resumes_after_outage(engine: Engine, feed: tuple[str, FeedState]) -> None:
    url, state = feed
    state.fail_from_page = 2
    with pytest.raises(ServiceUnavailableError) as caught:
        pull_feed(engine, url=url, actor="tester", page_size=10, sleep=no_sleep)
    assert "从中断处继续" in caught.value.message
    assert count(engine) == 20

    state.fail_from_page = None
    state.requests.clear()
    report = pull_feed(engine, url=url, actor="tester", page_size=10)

    assert state.requests[0]["after"] == "c20"
    assert (report.items, report.stored) == (5, 5)
    assert count(engine) == 25


def test_page_read_twice_stores_nothing_twice(
    engine: Engine, feed: tuple[str, FeedState]
) -> None:
    url, _ = feed
    pull_feed(engine, url=url, actor="tester", page_size=10)
    with session_scope(engine) as session:
        # As after a crash between storing a page and storing the cursor.
        stored = session.scalars(select(FeedCursor)).one()
        stored.cursor = "c10"
        session.add(stored)

    report = pull_feed(engine, url=url, actor="tester", page_size=10)

    assert (report.items, report.stored, report.unchanged) == (15, 0, 15)
    assert count(engine) == 25


def test_restart_reads_from_start(engine: Engine, feed: tuple[str, FeedState]) -> None:
    url, state = feed
    pull_feed(engine, url=url, actor="tester", page_size=10)
    state.requests.clear()
    report = pull_feed(engine, url=url, actor="tester", page_size=10, restart=True)
    assert "after" not in state.requests[0]
    assert (report.stored, report.unchanged) == (0, 25)


def test_rate_limit_waits_retry_after(
    engine: Engine, feed: tuple[str, FeedState]
) -> None:
    url, state = feed
    state.throttle_next = 2
    waits: list[float] = []
    report = pull_feed(
        engine, url=url, actor="tester", page_size=30, sleep=waits.append
    )
    assert waits == [2.0, 2.0]
    assert report.retries == 2
    assert report.stored == 25


def test_second_submission_of_child_rejected(
    engine: Engine, feed: tuple[str, FeedState]
) -> None:
    url, state = feed
    again = {"submission_id": "P2025X0001",
             **make_row(3, preferred_school="白银区工农路小学",
                        submitted_at="2025-07-03 10:00:00")}  # fmt: skip
    state.items.append(again)
    report = pull_feed(engine, url=url, actor="tester", page_size=10)
    assert report.stored == 25
    assert report.rejected == 1
    submission, error = report.errors[0]
    assert submission == "P2025X0001"
    assert "有效申请" in error.message


def test_unknown_stored_cursor_asks_restart(
    engine: Engine, feed: tuple[str, FeedState]
) -> None:
    url, _ = feed
    with session_scope(engine) as session:
        session.add(FeedCursor(feed_url=feed_endpoint(url), cursor="zzz"))
    with pytest.raises(AdmissionsError) as caught:
        pull_feed(engine, url=url, actor="tester")
    assert "--restart" in caught.value.message


def test_pull_command_output(
    tmp_path: Path, engine: Engine, feed: tuple[str, FeedState]
) -> None:
    url, _ = feed
    db = str(engine.url)
    runner = CliRunner()
    first = runner.invoke(cli, ["--db", db, "pull", "--feed", url, "--page-size", "10"])
    again = runner.invoke(cli, ["--db", db, "pull", "--feed", url, "--json"])
    assert first.exit_code == 0, first.output
    assert "已读取 3 页 25 条：新增 25 条" in first.output
    assert again.exit_code == 0, again.output
    assert '"items": 0' in again.output


def test_unreachable_feed_fails_cleanly(engine: Engine) -> None:
    waits: list[float] = []
    with pytest.raises(ServiceUnavailableError) as caught:
        pull_feed(engine, url="http://127.0.0.1:9", actor="tester", sleep=waits.append)
    assert "无法连接" in caught.value.message
    assert waits == [0.5, 1.0, 2.0, 4.0]


# The simulator's own feed, in a subprocess, as used in rehearsals


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return generate_families(county_code="620402", count=120, seed=7, year=2025,
                             mistake_rate=0.1)  # fmt: skip


@pytest.fixture(scope="module")
def registry(simulation: Simulation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("simulator") / "registry.json"
    write_registry(simulation, path)
    return path


def test_simulator_feed_pulled_once(engine: Engine, simulation: Simulation,
                                    registry: Path) -> None:  # fmt: skip
    with start_services(registry) as services:
        first = pull_feed(engine, url=services.url, actor="tester", page_size=50)
        again = pull_feed(engine, url=services.url, actor="tester", page_size=50)
    assert first.items == len(simulation.feed)
    assert first.stored + first.rejected == first.items
    assert first.stored > 0
    assert again.items == 0
    assert count(engine) == first.stored
    with session_scope(engine) as session:
        refs = list(session.scalars(select(Application.external_ref)))
    assert len(refs) == len(set(refs))


def test_simulator_burst_read_incrementally(engine: Engine, simulation: Simulation,
                                            registry: Path) -> None:  # fmt: skip
    total = len(simulation.feed)
    reports = []
    with start_services(registry, burst_rate=100, burst_initial=20) as services:
        deadline = time.monotonic() + 30
        while sum(r.items for r in reports) < total and time.monotonic() < deadline:
            reports.append(pull_feed(engine, url=services.url, actor="tester",
                                     page_size=25))  # fmt: skip
            time.sleep(0.2)
    assert reports[0].items < total  # the first pull saw only the start of the burst
    assert sum(r.items for r in reports) == total
    assert count(engine) == sum(r.stored for r in reports)


def test_simulator_outage_retried(engine: Engine, registry: Path) -> None:
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with start_services(registry, feed_outage=(0, 1.5)) as services:
        report = pull_feed(engine, url=services.url, actor="tester", sleep=wait)
    assert report.retries >= 1
    assert waits[0] >= 1.0  # the server's Retry-After, not the first back-off step
    assert report.items > 0


def test_duplicate_in_page_names_submission(
    engine: Engine, feed: tuple[str, FeedState]
) -> None:
    url, state = feed
    again = {"submission_id": "P2025X0002",
             **make_row(3, preferred_school="白银区工农路小学")}  # fmt: skip
    state.items.append(again)
    report = pull_feed(engine, url=url, actor="tester", page_size=50)
    assert report.rejected == 1
    submission, error = report.errors[0]
    assert submission == "P2025X0002"
    assert "P202500003" in error.message
    assert "行" not in error.message
    assert "行" not in error.fix
