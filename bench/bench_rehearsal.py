"""Time a whole rehearsal, step by step, beside bare loopback HTTP of the same size.

Usage: .venv/bin/python bench/bench_rehearsal.py --families 2000 --county 620402

The reference, in the same process, is what the network part of the season costs with
no work at all: as many GET /health calls as the rehearsal made lookups and SMS calls,
from one synchronous httpx.Client shared by 16 threads, as the lookup and notify
services call. The difference between a step and its share of the reference is the
console's own work (validation, storage, classification, allocation, receipts).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlmodel import Session, func, select

from console.db import make_engine
from console.models import Lookup, Notice
from console.services.rehearsal import run_rehearsal
from simulator.server import start_services


def bare_http(registry: Path, calls: int, concurrency: int = 16) -> float:
    """Return seconds for `calls` GET /health from a shared client in threads."""
    with (
        start_services(registry) as services,
        httpx.Client(
            base_url=services.url, limits=httpx.Limits(max_connections=concurrency)
        ) as client,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        started = time.perf_counter()
        list(pool.map(lambda _i: client.get("/health").status_code, range(calls)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", type=int, default=2000)
    parser.add_argument("--county", default="620402")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
        result = run_rehearsal(
            engine,
            county_code=args.county,
            families=args.families,
            seed=args.seed,
            year=2025,
            stage="primary",
            workdir=workdir,
            actor="bench",
            reset=True,
        )
        with Session(engine) as session:
            lookups = session.exec(select(func.count()).select_from(Lookup)).one()
            notices = session.exec(select(func.count()).select_from(Notice)).one()
        # Each notice is one send and one receipt poll.
        http_calls = lookups + 2 * notices
        reference = bare_http(result.registry, http_calls)

    print(f"{'step':<28} {'seconds':>8}")
    for step in result.steps:
        print(f"{step.name:<28} {step.seconds:>8.2f}")
    print(f"{'rehearsal total':<28} {result.seconds:>8.2f}")
    print(f"{'reference: bare HTTP':<28} {reference:>8.2f}  ({http_calls} GET /health)")
    # tracemalloc would slow the run several times over, so memory is the peak RSS.
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak resident memory of this process {peak_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
