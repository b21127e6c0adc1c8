"""Option decorators and helpers shared by the commands."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from console.context import AppContext
from console.errors import AdmissionsError

F = TypeVar("F", bound=Callable[..., Any])

pass_app = click.make_pass_decorator(AppContext, ensure=True)

COUNTY_NAMES = {
    "620402": "白银区",
    "620403": "平川区",
    "620421": "靖远县",
    "620422": "会宁县",
    "620423": "景泰县",
}


class SeasonYear(click.ParamType):
    """A season year from 2000 to 2100, rejected in Chinese otherwise.

    The bounds keep a mistyped year (2205 for 2025) from creating a season that every
    command would then take as the latest, and keep dates of the year valid.
    """

    name = "year"
    first, last = 2000, 2100

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        try:
            year = int(value)
        except (TypeError, ValueError):
            year = None
        if year is None or not self.first <= year <= self.last:
            self.fail(
                f"招生年度 {value} 无效，应为 {self.first} 至 {self.last} 之间的年份，例如 2025。",
                param,
                ctx,
            )
        return year


SEASON_YEARS = SeasonYear()


class IsoDate(click.ParamType):
    """A calendar date written YYYY-MM-DD, rejected in Chinese otherwise.

    Click's DateTime type would show staff its strftime pattern (%Y-%m-%d) in the
    help and in the error. The value is a datetime at midnight, as DateTime returns.
    """

    name = "date"

    def get_metavar(
        self, param: click.Parameter, ctx: click.Context | None = None
    ) -> str:
        return "YYYY-MM-DD"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.strptime(str(value), "%Y-%m-%d")
        except ValueError:
            self.fail(
                f"日期 {value} 无效，应为“年-月-日”格式的日期，例如 2025-07-01。",
                param,
                ctx,
            )


ISO_DATE = IsoDate()


class ServiceUrl(click.ParamType):
    """The base URL of an HTTP service, checked before any call is made.

    A mistyped address would otherwise fail every call like a service that is down:
    lookup asked staff to retry later, and notify used up the retries of its first
    batch of notices.
    """

    name = "url"

    def get_metavar(
        self, param: click.Parameter, ctx: click.Context | None = None
    ) -> str:
        return "地址"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> str:
        url = str(value).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.fail(
                f"地址 {value} 无效，应以 http:// 或 https:// 开头并带上主机名，"
                "例如 http://127.0.0.1:8701。",
                param,
                ctx,
            )
        return url


SERVICE_URL = ServiceUrl()


def county_option(required: bool = True) -> Callable[[F], F]:
    """--county: a 6-digit county code (620402) or its name (白银区)."""

    def convert(
        _ctx: click.Context, _param: click.Parameter, value: str | None
    ) -> str | None:
        if value is None:
            return None
        if value in COUNTY_NAMES:
            return value
        for code, name in COUNTY_NAMES.items():
            if value == name:
                return code
        raise click.BadParameter(
            f"区县 {value} 不存在，可选：{'、'.join(f'{c}（{n}）' for c, n in COUNTY_NAMES.items())}"
        )

    return click.option(
        "--county",
        "county",
        required=required,
        callback=convert,
        help="区县代码或名称，例如 620402 或 白银区。",
    )


def season_option() -> Callable[[F], F]:
    return click.option(
        "--season",
        "season_year",
        type=int,
        default=None,
        help="招生年度，例如 2025；默认取最新年度。",
    )


def json_option() -> Callable[[F], F]:
    return click.option(
        "--json", "as_json", is_flag=True, help="以 JSON 输出，供脚本使用。"
    )


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def simulation_rate_options(function: F) -> F:
    """--mismatch-rate and --mistake-rate of the simulated families."""
    function = click.option(
        "--mistake-rate",
        type=click.FloatRange(0, 1),
        default=0.03,
        show_default=True,
        help="家长填报出错的儿童比例（0-1）。",
    )(function)
    return click.option(
        "--mismatch-rate",
        type=click.FloatRange(0, 1),
        default=0.05,
        show_default=True,
        help="政务数据与申请故意不一致的家庭比例（0-1）。",
    )(function)


def progress_printer(
    label: str, *, every_seconds: float = 10.0
) -> Callable[[int, int], None]:
    """Return a progress callback that prints `label` with done/total to stderr.

    It prints on the first call, at the end, and otherwise at most once every
    `every_seconds`, so that a long run shows it is alive without flooding a log.
    """
    last_printed: float | None = None

    def report(done: int, total: int) -> None:
        nonlocal last_printed
        now = time.monotonic()
        if (
            done < total
            and last_printed is not None
            and now - last_printed < every_seconds
        ):
            return
        last_printed = now
        percent = done * 100 // total if total else 100
        click.echo(f"{label} {done}/{total}（{percent}%）", err=True)

    return report


def shorten(text: str, width: int) -> str:
    """Cut `text` to `width` terminal columns, ending it with an ellipsis when cut."""
    from wcwidth import wcswidth

    if wcswidth(text) <= width:
        return text
    prefix = ""
    for character in text:
        if wcswidth(prefix + character) > width - 1:
            break
        prefix += character
    return prefix + "…"


def check_output_folder(output: Path, *, title: str) -> None:
    """Reject an output path in a missing folder, before anything is read or audited.

    The folder is not created, because a mistyped path would otherwise put the file
    where staff do not expect it.
    """
    folder = output.parent
    if not folder.exists():
        raise AdmissionsError(
            f"输出文件夹 {folder} 不存在，无法写入 {output}。"
            f"请先创建该文件夹（mkdir -p {folder}），或改用已有文件夹中的路径。",
            title=title,
        )
    if not folder.is_dir():
        raise AdmissionsError(
            f"{folder} 不是文件夹，无法写入 {output}。请换一个输出路径。",
            title=title,
        )


def check_output_files(
    targets: list[Path], *, database: str | None, force: bool, title: str
) -> None:
    """Reject writing over the database, and over any existing file unless `force`."""
    # SQLite keeps a database in several files; writing over any of them destroys it.
    protected = set()
    if database:
        for suffix in ("", "-wal", "-shm", "-journal"):
            protected.add(Path(f"{database}{suffix}").resolve())
    for target in targets:
        if target.resolve() in protected:
            raise AdmissionsError(
                f"{target} 是当前使用的数据库文件，不能作为输出文件。请换一个输出文件名。",
                title=title,
            )
        if target.exists() and not force:
            raise AdmissionsError(
                f"{target} 已存在，未覆盖。请换一个输出文件名，或加 --force 覆盖它。",
                title=title,
            )
