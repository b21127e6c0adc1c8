"""Pulling the platform's application feed incrementally, with a stored cursor.

The feed is `GET {base}/platform/applications?after=<cursor>&limit=<n>`, which
returns `{"items": [...], "next_cursor": "...", "has_more": bool}`. Each item
contains a `submission_id` and the canonical application fields. The cursor is stored after
every page, so an interrupted pull resumes where it stopped. A page read twice
(after a crash between storing its items and storing the cursor) stores nothing
twice, because intake skips submission ids it has already stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import select

from console.db import session_scope
from console.errors import AdmissionsError, NotFoundError, ServiceUnavailableError
from console.intake.headers import SUBMISSION_ID
from console.intake.normalize import clean_text
from console.intake.validate import RowError
from console.models import Division, FeedCursor, Stage, Window
from console.services.intake import FEED_SOURCE, ImportReport, import_rows
from console.services.seasons import get_window

logger = logging.getLogger(__name__)

FEED_PATH = "/platform/applications"
DEFAULT_PAGE_SIZE = 500
MAX_ATTEMPTS = 5
# Back-off before retry n (1-based) when the server sends no Retry-After, in seconds.
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_RETRY_AFTER = 60.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class PullReport:
    """Counts of one pull, its rejected items and the cursor position."""

    feed_url: str
    pages: int = 0
    items: int = 0
    stored: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    retries: int = 0
    cursor: str = ""
    errors: list[tuple[str, RowError]] = field(default_factory=list)

    def add(self, report: ImportReport, submission_ids: Mapping[int, str]) -> None:
        self.stored += report.stored
        self.updated += report.updated
        self.unchanged += report.unchanged
        self.rejected += report.rejected
        for error in report.errors:
            self.errors.append((submission_ids.get(error.row, ""), error))


def feed_endpoint(url: str) -> str:
    """Return the feed URL: a base URL gets the platform path appended."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AdmissionsError(
            f"推送地址 {url} 无效，应以 http:// 或 https:// 开头，"
            "例如 http://127.0.0.1:8701"
        )
    path = parts.path.rstrip("/")
    if not path.endswith(FEED_PATH):
        path += FEED_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def pull_feed(
    engine: Engine,
    *,
    url: str,
    actor: str,
    year: int | None = None,
    stage: str = Stage.PRIMARY,
    page_size: int = DEFAULT_PAGE_SIZE,
    max_pages: int | None = None,
    restart: bool = False,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PullReport:
    """Read the feed from the stored cursor until it has nothing more, storing each page.

    Items go to the window of their county in the season `year` (latest when
    None); items of a county without a window are rejected. `restart` ignores
    the stored cursor and reads from the start, which stores nothing twice.
    Raises ServiceUnavailableError when the feed keeps failing after retries;
    the pages read before that stay stored and the next pull resumes after them.
    """
    endpoint = feed_endpoint(url)
    report = PullReport(feed_url=endpoint)
    cursor = "" if restart else _load_cursor(engine, endpoint)
    own_client = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
    windows: dict[str, Window | None] = {}
    counties = _county_codes(engine)
    logger.info("pull of %s started after cursor %r", endpoint, cursor)
    try:
        while max_pages is None or report.pages < max_pages:
            page = _fetch_page(http, endpoint, cursor, page_size, report, sleep)
            items = page.get("items") or []
            if not isinstance(items, list):
                raise ServiceUnavailableError(
                    f"推送接口 {endpoint} 返回的 items 不是列表"
                )
            _store_page(engine, items, report, windows, counties, actor=actor,
                        year=year, stage=stage)  # fmt: skip
            next_cursor = str(page.get("next_cursor") or cursor)
            report.pages += 1
            report.items += len(items)
            if next_cursor != cursor:
                cursor = next_cursor
                _save_cursor(engine, endpoint, cursor, len(items))
            report.cursor = cursor
            if not items or not page.get("has_more", False):
                break
    finally:
        if own_client:
            http.close()
    logger.info(
        "pull of %s finished: %d pages, %d items, %d stored, %d rejected",
        endpoint, report.pages, report.items, report.stored, report.rejected,
    )  # fmt: skip
    return report


def _fetch_page(
    http: httpx.Client,
    endpoint: str,
    cursor: str,
    page_size: int,
    report: PullReport,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """GET one page, retrying timeouts, connection errors, 429 and 5xx with back-off."""
    params: dict[str, str | int] = {"limit": page_size}
    if cursor:
        params["after"] = cursor
    problem = ""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
        try:
            response = http.get(endpoint, params=params)
        except httpx.TimeoutException as exc:
            problem = f"请求超时（{type(exc).__name__}）"
        except httpx.TransportError as exc:
            logger.info("feed %s unreachable: %s", endpoint, exc)
            problem = "无法连接推送服务，请检查 --feed 地址和服务是否已启动"
        else:
            if response.status_code == 200:
                return _json_of(response, endpoint)
            if response.status_code == 400 and cursor:
                raise AdmissionsError(
                    f"推送接口不认识已保存的游标（{_error_text(response)}）。"
                    "请加 --restart 从头读取；已保存的申请不会重复保存",
                    title="推送游标无效",
                )
            if response.status_code not in _RETRY_STATUSES:
                raise ServiceUnavailableError(
                    f"推送接口 {endpoint} 返回 HTTP {response.status_code}："
                    f"{_error_text(response)}。请检查地址和参数"
                )
            problem = f"HTTP {response.status_code}"
            wait = _retry_after(response, wait)
        if attempt == MAX_ATTEMPTS:
            break
        report.retries += 1
        logger.warning(
            "feed %s attempt %d failed (%s); retrying in %.1f s",
            endpoint, attempt, problem, wait,
        )  # fmt: skip
        sleep(wait)
    raise ServiceUnavailableError(
        f"推送接口 {endpoint} 连续 {MAX_ATTEMPTS} 次失败（最后一次：{problem}）。"
        "已读取的页已保存，稍后重新运行 admissions pull 会从中断处继续。"
    )


def _retry_after(response: httpx.Response, default: float) -> float:
    header = response.headers.get("Retry-After", "")
    try:
        return min(max(float(header), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return default


def _json_of(response: httpx.Response, endpoint: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise ServiceUnavailableError(f"推送接口 {endpoint} 返回的不是 JSON") from exc
    if not isinstance(data, dict):
        raise ServiceUnavailableError(f"推送接口 {endpoint} 返回的 JSON 不是对象")
    return data


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("error", data)) if isinstance(data, dict) else str(data)


def _store_page(
    engine: Engine,
    items: list[Any],
    report: PullReport,
    windows: dict[str, Window | None],
    counties: dict[str, str],
    *,
    actor: str,
    year: int | None,
    stage: str,
) -> None:
    """Import one page, one transaction per county of its items."""
    by_county: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for offset, item in enumerate(items):
        position = report.items + offset + 1  # 1-based position in this pull
        row = _as_row(item)
        text = clean_text(row.get("county")).replace(" ", "")
        by_county.setdefault(counties.get(text, text), []).append((position, row))
    for county, numbered in by_county.items():
        submission_ids = {
            number: row.get(SUBMISSION_ID, "") for number, row in numbered
        }
        window = _window_for(engine, county, year, stage, windows)
        if window is None:
            for number, row in numbered:
                report.rejected += 1
                report.errors.append((submission_ids[number], RowError(
                    number, "county", row.get("county", ""),
                    "该区县没有打开的报名窗口",
                    "先运行 admissions season open 打开该区县的窗口，再加 --restart 重新拉取",
                )))  # fmt: skip
            continue
        result = import_rows(
            engine, [row for _, row in numbered], window=window,
            source=FEED_SOURCE, actor=actor,
            row_numbers=[number for number, _ in numbered],
            chunk_size=max(len(numbered), 1),
        )  # fmt: skip
        report.add(result, submission_ids)


def _as_row(item: Any) -> dict[str, str]:
    if not isinstance(item, dict):
        return {}
    return {key: "" if value is None else str(value) for key, value in item.items()}


def _county_codes(engine: Engine) -> dict[str, str]:
    """Return county codes by name and by code, for the county field of items."""
    with session_scope(engine) as session:
        divisions = session.exec(select(Division)).all()
    return {
        **{d.name: d.code for d in divisions},
        **{d.code: d.code for d in divisions},
    }


def _window_for(
    engine: Engine,
    county: str,
    year: int | None,
    stage: str,
    windows: dict[str, Window | None],
) -> Window | None:
    if county not in windows:
        try:
            with session_scope(engine) as session:
                windows[county] = get_window(
                    session, year=year, county_code=county, stage=stage
                )
        except NotFoundError:
            logger.warning("feed items of county %r have no window", county)
            windows[county] = None
    return windows[county]


def _load_cursor(engine: Engine, endpoint: str) -> str:
    with session_scope(engine) as session:
        stored = session.get(FeedCursor, endpoint)
        return stored.cursor if stored else ""


def _save_cursor(engine: Engine, endpoint: str, cursor: str, items: int) -> None:
    with session_scope(engine) as session:
        stored = session.get(FeedCursor, endpoint) or FeedCursor(feed_url=endpoint)
        stored.cursor = cursor
        stored.items_read += items
        stored.updated_at = datetime.now(UTC)
        session.add(stored)
