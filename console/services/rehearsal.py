"""A whole season on simulated families: every step, in order, on a fresh database."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from console.db import create_schema, drop_schema
from console.errors import AdmissionsError
from console.models import Application
from console.policy import load_policies
from console.services.reference import load_reference
from console.services.seasons import open_window

log = logging.getLogger(__name__)


@dataclass
class StepTiming:
    name: str
    seconds: float
    summary: str


@dataclass
class RehearsalResult:
    season_id: int
    services_url: str
    registry: Path
    steps: list[StepTiming] = field(default_factory=list)
    stats: Any = None

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)


def reset_database(engine: Engine, *, force: bool) -> None:
    """Give the rehearsal an empty schema; refuse to wipe a database with applications unless forced."""
    if inspect(engine).has_table("application") and not force:
        with Session(engine) as session:
            count = session.exec(select(func.count()).select_from(Application)).one()
        if count:
            raise AdmissionsError(
                f"数据库中已有 {count} 份申请，演练需要空数据库。请换一个 --db，或加 --reset 清空后再演练。"
            )
    drop_schema(engine)
    create_schema(engine)


def run_rehearsal(
    engine: Engine,
    *,
    county_code: str,
    families: int,
    seed: int,
    year: int,
    stage: str,
    workdir: Path,
    actor: str,
    mismatch_rate: float = 0.05,
    mistake_rate: float = 0.03,
    reset: bool = False,
    on_step: Callable[[int, int, str], None] | None = None,
    on_done: Callable[[StepTiming], None] | None = None,
    before_stop: Callable[[str], None] | None = None,
) -> RehearsalResult:
    """Run init, window, simulate, lookup, classify, allocate and notify; return timings and stats.

    The simulator's services run in a subprocess on a free loopback port for the length of
    the run. `before_stop(url)` is called with their address before they are stopped.
    """
    from console.services.allocation import approve_run, run_allocation
    from console.services.classify import classify_applications
    from console.services.intake import import_rows
    from console.services.lookup import run_lookups
    from console.services.notify import prepare_notices, send_notices
    from console.services.stats import season_stats
    from simulator.families import generate_families, write_registry
    from simulator.server import start_services

    policy = load_policies()[county_code]
    workdir.mkdir(parents=True, exist_ok=True)
    registry_path = workdir / f"registry-{county_code}-{seed}.json"
    total = 7
    timings: list[StepTiming] = []

    def step(index: int, name: str, action: Callable[[], str]) -> None:
        if on_step:
            on_step(index, total, name)
        started = time.monotonic()
        summary = action()
        timing = StepTiming(name, time.monotonic() - started, summary)
        timings.append(timing)
        log.info("rehearsal step %s done in %.2f s", name, timing.seconds)
        if on_done:
            on_done(timing)

    state: dict[str, Any] = {}

    def init() -> str:
        reset_database(engine, force=reset)
        with Session(engine) as session:
            counts = load_reference(session)
            window = open_window(
                session,
                year=year,
                county_code=county_code,
                stage=stage,
                actor=actor,
                policy=policy,
            )
            session.commit()
            state["window"] = window
            state["season_id"] = window.season_id
        return f"学校 {counts['schools']} 所，片区 {counts['zones']} 个，{year} 年度窗口已打开"

    def simulate() -> str:
        simulation = generate_families(
            county_code=county_code,
            count=families,
            seed=seed,
            year=year,
            stage=stage,
            mismatch_rate=mismatch_rate,
            mistake_rate=mistake_rate,
        )
        write_registry(simulation, registry_path)
        with Session(engine) as session:
            report = import_rows(
                session,
                simulation.rows,
                window=state["window"],
                source="simulator",
                actor=actor,
            )
            session.commit()
        state["import"] = report
        return (
            f"家庭 {simulation.family_count} 户，儿童 {families} 人，申请 {len(simulation.rows)} 份：入库 {report.stored}，"
            f"退回 {report.rejected}"
        )

    step(1, "建库与开放报名窗口", init)
    step(2, "生成模拟家庭并接收申请", simulate)
    services = start_services(registry_path)
    try:

        def lookup() -> str:
            report = run_lookups(
                engine,
                season_id=state["season_id"],
                county_code=county_code,
                base_url=services.url,
                actor=actor,
                stage=stage,
            )
            return f"调用接口 {report.total_calls} 次，数据齐全 {report.completed} 份，未完成 {report.incomplete} 份"

        def classify() -> str:
            report = classify_applications(
                engine,
                season_id=state["season_id"],
                county_code=county_code,
                actor=actor,
                stage=stage,
                policy=policy,
            )
            batches = " ".join(f"{b}:{report.batches[b]}" for b in "ABCDE")
            return f"{batches}，异常 {report.exceptions}"

        def allocate() -> str:
            with Session(engine) as session:
                report = run_allocation(
                    session,
                    season_id=state["season_id"],
                    county_code=county_code,
                    stage=stage,
                    actor=actor,
                    commit=True,
                    seed_source=f"rehearsal-{seed}",
                )
                session.commit()
                # The trainer acts for the bureau, which approves a run before any
                # result notice goes out.
                assert report.run_id is not None
                approve_run(session, run_id=report.run_id, actor=actor)
                session.commit()
            state["allocation"] = report
            return f"{report.summary_line()}，已审定"

        def notify() -> str:
            prepared = prepare_notices(
                engine,
                season_id=state["season_id"],
                county_code=county_code,
                policy=policy,
            )
            report = send_notices(
                engine,
                season_id=state["season_id"],
                county_code=county_code,
                base_url=services.url,
            )
            if report.errors:
                raise AdmissionsError(
                    f"{len(report.errors)} 条短信发送失败，首条：{report.errors[0]}"
                )
            return f"新建通知 {prepared.created} 条，已送达 {report.states.get('delivered', 0)} 条"

        step(3, "政务数据查询", lookup)
        step(4, "资格核验与分批", classify)
        step(5, "片区录取、调剂与审定", allocate)
        step(6, "短信通知", notify)

        def stats() -> str:
            with Session(engine) as session:
                state["stats"] = season_stats(
                    session, year=year, county_code=county_code
                )
            return "统计完成"

        step(7, "统计", stats)
        if before_stop:
            before_stop(services.url)
    finally:
        services.stop()
    return RehearsalResult(
        season_id=state["season_id"],
        services_url=services.url,
        registry=registry_path,
        steps=timings,
        stats=state.get("stats"),
    )
