"""Seasons and application windows."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from console.errors import AdmissionsError, NotFoundError, WindowClosedError
from console.models import Division, Season, Stage, Window, utcnow
from console.policy import CountyPolicy, load_policies
from console.services import audit


def get_season(session: Session, year: int | None = None) -> Season:
    """Return the season of `year`, or the latest one; raise NotFoundError when there is none."""
    query = select(Season)
    if year:
        query = query.where(Season.year == year)
    else:
        query = query.order_by(col(Season.year).desc())
    season = session.exec(query).first()
    if season is None:
        hint = f"{year}年度" if year else "任何招生年度"
        raise NotFoundError(
            f"数据库中没有{hint}。请先运行 admissions season open --year 年度 --county 区县。"
        )
    return season


def open_window(
    session: Session,
    *,
    year: int,
    county_code: str,
    stage: str = Stage.PRIMARY,
    actor: str,
    policy: CountyPolicy | None = None,
    opens_on: date | None = None,
    closes_on: date | None = None,
) -> Window:
    """Create the season if needed and open the county's window for the stage."""
    if session.get(Division, county_code) is None:
        raise NotFoundError(
            f"区县代码 {county_code} 不在区划表中。请先运行 admissions init 载入基础数据。"
        )
    policy = policy or load_policies()[county_code]
    season = session.exec(select(Season).where(Season.year == year)).first()
    if season is None:
        season = Season(year=year, name=f"{year}年义务教育招生")
        session.add(season)
        session.flush()
    window = session.exec(
        select(Window).where(
            Window.season_id == season.id,
            Window.county_code == county_code,
            Window.stage == stage,
        )
    ).first()
    default_opens, default_closes = policy.window_dates(year, stage)
    if window is None:
        assert season.id is not None
        window = Window(
            season_id=season.id,
            county_code=county_code,
            stage=stage,
            opens_on=opens_on or default_opens,
            closes_on=closes_on or default_closes,
            age_cutoff=policy.cutoff_date(year),
        )
    if opens_on and closes_on and opens_on > closes_on:
        raise AdmissionsError(
            f"开始日期 {opens_on} 晚于截止日期 {closes_on}，请调整窗口日期。"
        )
    window.state = "open"
    window.opened_at = utcnow()
    session.add(window)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="window.open",
        entity="window",
        entity_id=window.id,
        detail={"year": year, "county": county_code, "stage": stage},
    )
    return window


def close_window(
    session: Session, *, year: int, county_code: str, stage: str, actor: str
) -> Window:
    window = get_window(session, year=year, county_code=county_code, stage=stage)
    window.state = "closed"
    window.closed_at = utcnow()
    session.add(window)
    audit.record(
        session,
        actor=actor,
        action="window.close",
        entity="window",
        entity_id=window.id,
    )
    return window


def get_window(
    session: Session, *, year: int | None, county_code: str, stage: str
) -> Window:
    season = get_season(session, year)
    window = session.exec(
        select(Window).where(
            Window.season_id == season.id,
            Window.county_code == county_code,
            Window.stage == stage,
        )
    ).first()
    if window is None:
        raise NotFoundError(
            f"{season.year} 年度区县 {county_code} 的{'小学' if stage == Stage.PRIMARY else '初中'}报名窗口不存在。"
            f"请先运行 admissions season open --year {season.year} --county {county_code}。"
        )
    return window


def require_open(
    window: Window, *, override_by: str | None = None, session: Session | None = None
) -> None:
    """Raise WindowClosedError unless the window is open or an operator overrides it (audited)."""
    if window.state == "open":
        return
    if override_by and session is not None:
        audit.record(
            session,
            actor=override_by,
            action="window.override",
            entity="window",
            entity_id=window.id,
        )
        return
    raise WindowClosedError(
        f"区县 {window.county_code} 的报名窗口已关闭，不能接收申请。"
        "如确需补录，请由有权限的操作员使用 --override-window --reason 原因。"
    )
