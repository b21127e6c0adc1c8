"""The simulator's loopback services, started with start_services and called over HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner
from sqlmodel import Session, func, select

from console.cli import cli
from console.models import Application
from simulator.app import Faults, ServiceConfig, create_app
from simulator.families import Simulation, generate_families, write_registry
from simulator.server import RunningServices, start_services

COUNTY = "620402"
GOV_PATHS = (
    "/gov/police/household",
    "/gov/police/population",
    "/gov/police/residence-permit",
    "/gov/natural-resources/real-estate",
    "/gov/hrss/social-insurance",
)


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return generate_families(
        county_code=COUNTY,
        count=150,
        seed=21,
        year=2025,
        mismatch_rate=0.2,
        mistake_rate=0,
    )


@pytest.fixture(scope="module")
def registry(simulation: Simulation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("simulator") / "registry.json"
    write_registry(simulation, path)
    return path


@pytest.fixture(scope="module")
def services(registry: Path) -> Iterator[RunningServices]:
    with start_services(registry) as running:
        yield running


@pytest.fixture
def client(services: RunningServices) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=services.url, timeout=5) as http:
        yield http


def lookup(client: httpx.Client, path: str, id_number: str) -> httpx.Response:
    return client.post(
        path,
        json={"id_number": id_number},
        headers={"X-Requester": "tester", "X-Purpose": quote("教育入学核验")},
    )


def test_health_on_loopback(services: RunningServices, client: httpx.Client) -> None:
    assert services.url.startswith("http://127.0.0.1:")
    assert client.get("/health").json() == {"status": "ok"}


def test_household_found(simulation: Simulation, client: httpx.Client) -> None:
    child = next(c for c in simulation.children if c.mismatch is None)
    body = lookup(client, "/gov/police/household", child.student_id_number).json()
    assert body["found"] is True
    assert body["record"]["name"] == child.student_name
    assert body["record"]["registered_division_code"]


def test_household_missing_not_found(
    simulation: Simulation, client: httpx.Client
) -> None:
    child = next(c for c in simulation.children if c.mismatch == "household_missing")
    for path in ("/gov/police/household", "/gov/police/population"):
        assert lookup(client, path, child.student_id_number).json() == {"found": False}


def test_population_record(simulation: Simulation, client: httpx.Client) -> None:
    child = next(c for c in simulation.children if c.mismatch is None)
    record = lookup(client, "/gov/police/population", child.student_id_number).json()[
        "record"
    ]
    assert set(record) == {
        "name",
        "id_number",
        "gender",
        "birth_date",
        "ethnicity",
        "status",
    }
    assert record["id_number"] == child.student_id_number


def test_permit_valid_and_expired(simulation: Simulation, client: httpx.Client) -> None:
    rows = {row["submission_id"]: row for row in simulation.rows}
    seen = set()
    for child in simulation.children:
        guardian = rows[child.submission_ids[0]]["guardian_id_number"]
        if guardian not in simulation.permit:
            continue
        record = lookup(client, "/gov/police/residence-permit", guardian).json()[
            "record"
        ]
        expected = child.mismatch != "permit_expired"
        assert record["valid"] is expected, guardian
        seen.add(expected)
    assert seen == {True, False}


def test_real_estate_records(simulation: Simulation, client: httpx.Client) -> None:
    owner = next(iter(simulation.real_estate))
    body = lookup(client, "/gov/natural-resources/real-estate", owner).json()
    assert body["found"] is True
    assert body["records"] == simulation.real_estate[owner]
    empty = lookup(
        client, "/gov/natural-resources/real-estate", "110101200001010014"
    ).json()
    assert empty == {"found": False, "records": []}


def test_social_insurance_record(simulation: Simulation, client: httpx.Client) -> None:
    insured = next(iter(simulation.insurance))
    body = lookup(client, "/gov/hrss/social-insurance", insured).json()
    assert (
        body["record"]["months_last_24"]
        == simulation.insurance[insured]["months_last_24"]
    )


def test_lookup_without_id_rejected(client: httpx.Client) -> None:
    for path in GOV_PATHS:
        assert client.post(path, json={}).status_code == 400
        assert client.post(path, content=b"not json").status_code == 400


def test_requester_and_purpose_counted(
    simulation: Simulation, client: httpx.Client
) -> None:
    lookup(client, "/gov/police/household", simulation.children[0].student_id_number)
    stats = client.get("/stats").json()
    assert stats["requests"]["/gov/police/household"] >= 1
    assert stats["requesters"]["tester | 教育入学核验"] >= 1
    recent = client.get("/requests").json()["items"]
    assert all(
        simulation.children[0].student_id_number not in str(item) for item in recent
    )


def test_sms_idempotent(client: httpx.Client) -> None:
    message = {
        "mobile": "13912345678",
        "text": "录取通知",
        "idempotency_key": "notice-1",
    }
    first = client.post("/sms/send", json=message).json()
    second = client.post("/sms/send", json=message).json()
    listed = client.get("/sms/messages").json()
    keys = [item["idempotency_key"] for item in listed["items"]]
    assert first["message_id"] == second["message_id"]
    assert first["status"] == "accepted"
    assert keys.count("notice-1") == 1
    assert listed["count"] == len(listed["items"])


def test_sms_key_reuse_conflicts(client: httpx.Client) -> None:
    message = {"mobile": "13912345679", "text": "通知甲", "idempotency_key": "notice-2"}
    client.post("/sms/send", json=message)
    changed = client.post("/sms/send", json={**message, "text": "通知乙"})
    assert changed.status_code == 409


@pytest.mark.parametrize(
    "message",
    [
        {"mobile": "1391234567", "text": "短", "idempotency_key": "k"},
        {"mobile": "13912345678", "text": "", "idempotency_key": "k"},
        {"mobile": "13912345678", "text": "无键"},
    ],
)
def test_sms_invalid_rejected(client: httpx.Client, message: dict[str, str]) -> None:
    assert client.post("/sms/send", json=message).status_code == 400


def test_sms_delivered_immediately(client: httpx.Client) -> None:
    message = {"mobile": "13912345670", "text": "通知", "idempotency_key": "notice-3"}
    message_id = client.post("/sms/send", json=message).json()["message_id"]
    status = client.get(f"/sms/messages/{message_id}").json()
    assert status["status"] == "delivered"
    assert status["delivered_at"]
    assert client.get("/sms/messages/SM99999999").status_code == 404


def test_feed_pages_in_order(simulation: Simulation, client: httpx.Client) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 7, **({"after": cursor} if cursor else {})}
        page = client.get("/platform/applications", params=params).json()
        seen += [item["submission_id"] for item in page["items"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == [row["submission_id"] for row in simulation.rows]


def test_feed_cursor_stable(client: httpx.Client) -> None:
    first = client.get("/platform/applications", params={"limit": 5}).json()
    cursor = first["next_cursor"]
    again = client.get(
        "/platform/applications", params={"limit": 5, "after": cursor}
    ).json()
    repeat = client.get(
        "/platform/applications", params={"limit": 5, "after": cursor}
    ).json()
    assert again == repeat
    assert again["items"][0]["submission_id"] != first["items"][-1]["submission_id"]


def test_feed_end_keeps_cursor(simulation: Simulation, client: httpx.Client) -> None:
    everything = client.get("/platform/applications", params={"limit": 1000}).json()
    cursor = everything["next_cursor"]
    tail = client.get("/platform/applications", params={"after": cursor}).json()
    assert len(everything["items"]) == len(simulation.rows)
    assert tail["items"] == []
    assert tail["next_cursor"] == cursor


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": "x"}, {"after": "bogus"}])
def test_feed_bad_request(client: httpx.Client, params: dict[str, str | int]) -> None:
    assert client.get("/platform/applications", params=params).status_code == 400


def test_burst_feed_grows(registry: Path) -> None:
    with start_services(registry, burst_rate=40, burst_initial=3) as running:
        with httpx.Client(base_url=running.url, timeout=5) as http:
            early = http.get("/platform/applications", params={"limit": 1000}).json()
            time.sleep(0.6)
            later = http.get("/platform/applications", params={"limit": 1000}).json()
    assert 3 <= len(early["items"]) < len(later["items"])
    assert later["visible"] < later["total"]


def test_burst_replays_submission_times(simulation: Simulation, registry: Path) -> None:
    # 2025-07-01 08:00 onwards: at 600x, the first 0.5 s show 5 minutes of submissions.
    times = [row["submitted_at"] for row in simulation.rows]
    early_expected = sum(t <= "2025-07-01 08:05:00" for t in times)
    with start_services(registry, burst_speedup=600) as running:
        with httpx.Client(base_url=running.url, timeout=5) as http:
            time.sleep(0.5)
            page = http.get("/platform/applications", params={"limit": 1000}).json()
    assert 0 < page["visible"] < len(times)
    assert page["visible"] >= early_expected // 2
    assert [i["submitted_at"] for i in page["items"]] == times[: page["visible"]]


def test_burst_options_exclusive(registry: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["simulate", "serve", "--registry", str(registry), "--port", "0",
         "--burst-rate", "5", "--burst-speedup", "60"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--burst-speedup" in result.output


def test_faults_error_latency_outage_rate(registry: Path) -> None:
    faults: dict[str, Any] = {
        "gov_error_rate": 1.0,
        "sms_outage": (0, 60),
        "feed_rate_limit": 1,
        "feed_latency_ms": 150,
    }
    with start_services(registry, **faults) as running:
        with httpx.Client(base_url=running.url, timeout=5) as http:
            gov = http.post("/gov/police/household", json={"id_number": "x"})
            sms = http.post("/sms/send", json={})
            started = time.monotonic()
            feed_first = http.get("/platform/applications")
            elapsed = time.monotonic() - started
            feed_second = http.get("/platform/applications")
            statuses = http.get("/stats").json()["statuses"]
    assert gov.status_code == 500
    assert sms.status_code == 503
    assert int(sms.headers["Retry-After"]) >= 1
    assert feed_first.status_code == 200
    assert elapsed >= 0.15
    assert feed_second.status_code == 429
    assert int(feed_second.headers["Retry-After"]) >= 1
    assert statuses["/platform/applications 429"] == 1


def test_faults_changed_at_run_time(
    services: RunningServices, client: httpx.Client
) -> None:
    set_outage = client.post("/admin/faults/gov", json={"outage": [0, 30]})
    during = client.post("/gov/police/household", json={"id_number": "x"})
    cleared = client.post("/admin/faults/gov", json={})
    after = client.post("/gov/police/household", json={"id_number": "x"})
    assert set_outage.status_code == 200
    assert during.status_code == 503
    assert cleared.status_code == 200
    assert after.status_code == 200
    assert client.post("/admin/faults/gov", json={"error_rate": 2}).status_code == 400
    assert client.post("/admin/faults/db", json={}).status_code == 404


def test_sms_delivery_delay_and_failures(registry: Path) -> None:
    with start_services(
        registry, sms_delivery_delay=0.3, sms_failure_rate=1.0
    ) as running:
        with httpx.Client(base_url=running.url, timeout=5) as http:
            message = {"mobile": "13912345671", "text": "通知", "idempotency_key": "k"}
            message_id = http.post("/sms/send", json=message).json()["message_id"]
            before = http.get(f"/sms/messages/{message_id}").json()["status"]
            time.sleep(0.4)
            after = http.get(f"/sms/messages/{message_id}").json()["status"]
    assert before == "accepted"
    assert after == "failed"


def test_permit_validity_uses_as_of(simulation: Simulation, registry: Path) -> None:
    holder = next(iter(simulation.permit))
    with start_services(registry, as_of=date(2030, 1, 1)) as running:
        body = httpx.post(
            f"{running.url}/gov/police/residence-permit",
            json={"id_number": holder},
            timeout=5,
        ).json()
    assert body["record"]["valid"] is False


def test_stop_ends_process(registry: Path) -> None:
    running = start_services(registry)
    running.stop()
    assert running.process.poll() is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.url}/health", timeout=1)


def test_server_stops_with_parent(registry: Path, tmp_path: Path) -> None:
    # A parent that starts the services and is then killed without any cleanup.
    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        "from pathlib import Path\n"
        "from simulator.server import start_services\n"
        f"services = start_services(Path({str(registry)!r}))\n"
        "print(services.process.pid, flush=True)\n"
        "time.sleep(60)\n",
        encoding="utf-8",
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child_pid}").exists():
        status = (
            Path(f"/proc/{child_pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        )
        if status == "Z":
            break
        time.sleep(0.1)
    alive = Path(f"/proc/{child_pid}").exists() and status != "Z"
    assert not alive


def test_config_reusable_across_apps(simulation: Simulation) -> None:
    config = ServiceConfig(gov=Faults(outage_start=5.0, outage_end=10.0))
    create_app(simulation.registry(), config)
    create_app(simulation.registry(), config)
    assert config.gov.outage_start == 5.0
    assert config.gov.outage_end == 10.0


def test_unknown_setting_rejected(registry: Path) -> None:
    with pytest.raises(TypeError, match="gov_latency"):
        start_services(registry, gov_latency=5)


def test_simulate_families_command(tmp_path: Path) -> None:
    database = tmp_path / "season.db"
    registry = tmp_path / "registry.json"
    rows = tmp_path / "rows.csv"
    runner = CliRunner()
    base = ["--db", str(database), "--operator", "tester"]
    assert runner.invoke(cli, [*base, "init"]).exit_code == 0
    opened = runner.invoke(
        cli, [*base, "season", "open", "--year", "2025", "--county", COUNTY]
    )
    assert opened.exit_code == 0, opened.output
    arguments = ["--county", "白银区", "--count", "40", "--seed", "3", "--year", "2025",
                 "--registry", str(registry), "--rows-out", str(rows), "--mistake-rate", "0"]  # fmt: skip
    result = runner.invoke(cli, [*base, "simulate", "families", *arguments])
    assert result.exit_code == 0, result.output
    assert "入库 40 份" in result.output
    assert registry.exists()
    assert rows.read_text(encoding="utf-8").startswith("submission_id,student_name")
    from console.db import make_engine

    with Session(make_engine(f"sqlite:///{database}")) as session:
        stored = session.exec(select(func.count()).select_from(Application)).one()
    assert stored == 40


def test_simulate_families_needs_window(tmp_path: Path) -> None:
    database = tmp_path / "season.db"
    runner = CliRunner()
    base = ["--db", str(database), "--operator", "tester"]
    runner.invoke(cli, [*base, "init"])
    arguments = ["--county", COUNTY, "--count", "5", "--year", "2025",
                 "--registry", str(tmp_path / "registry.json")]  # fmt: skip
    result = runner.invoke(cli, [*base, "simulate", "families", *arguments])
    assert result.exit_code == 1
    assert "admissions season open" in result.output
