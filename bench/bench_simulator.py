"""Time the simulator: family generation and the loopback services under rehearsal load.

Usage: .venv/bin/python bench/bench_simulator.py --families 2000 --concurrency 8

A rehearsal of N families makes about 4 N government lookups and N SMS sends. This
script makes the same calls with one httpx.AsyncClient, as the lookup and notify
services do, and next to them the same number of GET /health calls as the reference:
the cost of HTTP on loopback with no handler work. Server CPU comes from
/proc/PID/stat of the server subprocess (Linux only).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from faker import Faker

from simulator.families import Simulation, generate_families, write_registry
from simulator.server import start_services

T = TypeVar("T")
Call = tuple[str, str, dict[str, str] | None]  # method, path, JSON body

GOV_PATHS = (
    "/gov/police/household",
    "/gov/natural-resources/real-estate",
    "/gov/police/residence-permit",
    "/gov/hrss/social-insurance",
)


def server_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_calls(url: str, calls: list[Call], concurrency: int) -> int:
    """Make the calls with `concurrency` in flight; return the count of non-200 responses."""
    failures = 0
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10) as client:
        semaphore = asyncio.Semaphore(concurrency)

        async def one(method: str, path: str, body: dict[str, str] | None) -> None:
            nonlocal failures
            async with semaphore:
                response = await client.request(method, path, json=body)
            failures += response.status_code != 200

        await asyncio.gather(*(one(*call) for call in calls))
    return failures


def timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--county", default="620402")
    args = parser.parse_args()

    def generate() -> Simulation:
        return generate_families(
            county_code=args.county, count=args.families, seed=7, year=2025
        )

    seconds, simulation = timed(generate)
    # A second run under tracemalloc for the peak, which slows it several times.
    tracemalloc.start()
    generate()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    fake = Faker("zh_CN")
    fake.seed_instance(7)
    reference_seconds, _ = timed(
        lambda: [(fake.name(), fake.phone_number()) for _ in range(args.families * 5)]
    )
    print(f"generate_families({args.families}): {seconds:.2f} s, peak {peak:.1f} MiB")
    print(
        f"reference, Faker name + phone x {args.families * 5}: {reference_seconds:.2f} s"
    )

    rows = simulation.rows
    gov_calls: list[Call] = []
    sms_calls: list[Call] = []
    for index, row in enumerate(rows):
        for path in GOV_PATHS:
            gov_calls.append(("POST", path, {"id_number": row["guardian_id_number"]}))
        sms_calls.append(
            (
                "POST",
                "/sms/send",
                {
                    "mobile": "13912345678",
                    "text": "录取通知",
                    "idempotency_key": f"n{index}",
                },
            )
        )
    health_calls: list[Call] = [("GET", "/health", None)] * (
        len(gov_calls) + len(sms_calls)
    )

    with tempfile.TemporaryDirectory() as folder:
        registry = Path(folder) / "registry.json"
        write_registry(simulation, registry)
        start_seconds, services = timed(lambda: start_services(registry))
        print(f"start_services: {start_seconds:.2f} s")
        with services:
            pid = services.process.pid
            url = services.url
            for label, calls in (
                ("gov lookups", gov_calls),
                ("SMS sends", sms_calls),
                ("reference, GET /health", health_calls),
            ):
                cpu_before = server_cpu_seconds(pid)
                started = time.perf_counter()
                failures = asyncio.run(run_calls(url, calls, args.concurrency))
                seconds = time.perf_counter() - started
                cpu = server_cpu_seconds(pid) - cpu_before
                report(label, calls, seconds, cpu, failures)

            # The same lookups from one synchronous client, for the client's share.
            cpu_before = server_cpu_seconds(pid)
            started = time.perf_counter()
            failures = 0
            with httpx.Client(base_url=url, timeout=10) as client:
                for _method, path, body in gov_calls:
                    failures += client.post(path, json=body).status_code != 200
            seconds = time.perf_counter() - started
            cpu = server_cpu_seconds(pid) - cpu_before
            report("gov lookups, one sync client", gov_calls, seconds, cpu, failures)


def report(
    label: str, calls: list[Call], seconds: float, cpu: float, failures: int
) -> None:
    print(
        f"{label}: {len(calls)} calls in {seconds:.2f} s "
        f"({len(calls) / seconds:.0f}/s), server CPU {cpu:.2f} s "
        f"({cpu / len(calls) * 1000:.2f} ms/call), non-200: {failures}"
    )


if __name__ == "__main__":
    main()
