"""Run the loopback services: in the foreground, or in a subprocess for rehearsals and tests.

A subprocess rather than a thread keeps the server off the caller's GIL, so a client
making thousands of calls is not slowed down by the server it calls.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import click
import httpx

from simulator.config import GROUPS, Faults, ServiceConfig

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
ANNOUNCE_PREFIX = "simulator listening on "
PARENT_POLL_SECONDS = 0.5

# Keyword arguments of start_services besides registry, port and host, with their flags.
FAULT_KEYWORDS = {
    **{
        f"{group}_{name}": f"--{group}-{name.replace('_', '-')}"
        for group in GROUPS
        for name in ("latency_ms", "error_rate", "outage", "rate_limit")
    },
    "burst_rate": "--burst-rate",
    "burst_initial": "--burst-initial",
    "burst_speedup": "--burst-speedup",
    "sms_delivery_delay": "--sms-delivery-delay",
    "sms_failure_rate": "--sms-failure-rate",
    "as_of": "--as-of",
    "seed": "--fault-seed",
}


def _parse_outage(
    _ctx: click.Context | None, _param: click.Parameter | None, value: str | None
) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        start_text, end_text = value.split(":")
        start, end = float(start_text), float(end_text)
    except ValueError:
        raise click.BadParameter(
            f"{value} 格式无效，应为 开始秒:结束秒，例如 5:20。"
        ) from None
    if start < 0 or end <= start:
        raise click.BadParameter(f"{value} 无效：结束秒须大于开始秒，且都不小于 0。")
    return start, end


def fault_options(function: F) -> F:
    """Add the fault, burst and SMS options shared by both serve commands."""
    options = []
    for group, label in (
        ("gov", "政务接口"),
        ("sms", "短信网关"),
        ("feed", "报名数据推送"),
    ):
        options += [
            click.option(
                f"--{group}-latency-ms",
                type=click.FloatRange(min=0),
                default=0.0,
                help=f"{label}每次请求附加的延迟，单位毫秒。",
            ),
            click.option(
                f"--{group}-error-rate",
                type=click.FloatRange(0, 1),
                default=0.0,
                help=f"{label}随机返回 HTTP 500 的比例（0-1）。",
            ),
            click.option(
                f"--{group}-outage",
                callback=_parse_outage,
                default=None,
                metavar="START:END",
                help=f"{label}停机时段：启动后第 START 秒到第 END 秒返回 HTTP 503。",
            ),
            click.option(
                f"--{group}-rate-limit",
                type=click.FloatRange(min=0),
                default=0.0,
                help=f"{label}每秒允许的请求数，超出返回 HTTP 429；0 表示不限。",
            ),
        ]
    options += [
        click.option(
            "--burst-rate",
            type=click.FloatRange(min=0),
            default=0.0,
            help="开放日集中报名回放：每秒新增可见的申请条数；0 表示全部立即可见。",
        ),
        click.option(
            "--burst-initial",
            type=click.IntRange(min=0),
            default=0,
            help="回放开始时已可见的申请条数。",
        ),
        click.option(
            "--burst-speedup",
            type=click.FloatRange(min=0),
            default=0.0,
            help="按申报时间回放，时间压缩倍数：3600 表示每秒出现一小时内的申报；"
            "不能与 --burst-rate 同用。",
        ),
        click.option(
            "--sms-delivery-delay",
            type=click.FloatRange(min=0),
            default=0.0,
            help="短信从受理到送达的时间，单位秒。",
        ),
        click.option(
            "--sms-failure-rate",
            type=click.FloatRange(0, 1),
            default=0.0,
            help="短信最终发送失败的比例（0-1）。",
        ),
        click.option(
            "--as-of",
            type=click.DateTime(["%Y-%m-%d"]),
            default=None,
            help="判断居住证是否有效的查询日期 YYYY-MM-DD；默认取数据文件中的日期。",
        ),
        click.option(
            "--fault-seed",
            "seed",
            type=int,
            default=0,
            help="随机故障与短信失败的随机数种子。",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def config_from_options(options: dict[str, Any]) -> ServiceConfig:
    """Build a ServiceConfig from the values of `fault_options` (or the same keywords)."""
    config = ServiceConfig(
        burst_rate=float(options.get("burst_rate") or 0.0),
        burst_initial=int(options.get("burst_initial") or 0),
        burst_speedup=float(options.get("burst_speedup") or 0.0),
        sms_delivery_delay=float(options.get("sms_delivery_delay") or 0.0),
        sms_failure_rate=float(options.get("sms_failure_rate") or 0.0),
        seed=int(options.get("seed") or 0),
    )
    as_of = options.get("as_of")
    if as_of is not None:
        config.as_of = as_of if type(as_of) is date else as_of.date()
    for group in GROUPS:
        faults = Faults(
            latency_ms=float(options.get(f"{group}_latency_ms") or 0.0),
            error_rate=float(options.get(f"{group}_error_rate") or 0.0),
            rate_limit=float(options.get(f"{group}_rate_limit") or 0.0),
        )
        outage = options.get(f"{group}_outage")
        if outage is not None:
            faults.outage_start, faults.outage_end = outage
        setattr(config, group, faults)
    return config


def load_registry(path: Path) -> dict[str, Any]:
    """Read a registry JSON file written by `admissions simulate families`."""
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or "household" not in data:
        raise ValueError(f"{path} is not a simulator registry (no household section)")
    return data


def serve(
    registry_path: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    config: ServiceConfig | None = None,
    announce: Callable[[str], None] | None = None,
    registry: dict[str, Any] | None = None,
    parent_pid: int | None = None,
) -> None:
    """Serve on `host`:`port` until interrupted; `announce` receives the base URL.

    `registry` skips reading `registry_path` when the caller has loaded it already.
    With `parent_pid` the server stops soon after that process has exited.
    """
    import uvicorn

    from simulator.app import create_app

    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"the simulator listens on loopback only, not {host}")
    app = create_app(registry or load_registry(registry_path), config)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only then,
    # and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    url = (
        f"http://[{host}]:{bound_port}"
        if family == socket.AF_INET6
        else (f"http://{host}:{bound_port}")
    )
    uvicorn_config = uvicorn.Config(
        app,
        http="h11",
        loop="asyncio",
        lifespan="off",
        log_level="warning",
        access_log=False,
        workers=1,
    )
    server = uvicorn.Server(uvicorn_config)
    if parent_pid is not None:
        threading.Thread(
            target=_stop_when_orphaned, args=(server, parent_pid), daemon=True
        ).start()
    logger.info("simulator serving %s on %s", registry_path, url)
    if announce is not None:
        announce(url)
    server.run(sockets=[sock])
    logger.info("simulator on %s stopped", url)


@click.command("serve")
@click.option(
    "--registry",
    "registry_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="admissions simulate families 写出的政务数据文件（JSON）。",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    type=click.Choice(LOOPBACK_HOSTS),
    help="监听地址，只能是本机回环地址。",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="监听端口；0 表示自动选择空闲端口。",
)
@click.option(
    "--announce",
    is_flag=True,
    hidden=True,
    help="启动后在标准输出打印一行地址，供 start_services 读取。",
)
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    hidden=True,
    help="该进程退出后模拟服务随之停止。",
)
@fault_options
def serve_command(
    registry_path: Path,
    host: str,
    port: int,
    announce: bool,
    parent_pid: int | None,
    **options: Any,
) -> None:
    """在本机回环地址上运行模拟服务（报名数据推送、政务数据共享接口、短信网关），Ctrl-C 停止。

    示例：admissions simulate serve --registry registry.json --port 8765 --gov-latency-ms 20
    """
    config = config_from_options(options)
    if config.burst_rate > 0 and config.burst_speedup > 0:
        raise click.UsageError("--burst-rate 与 --burst-speedup 只能选一个。")
    try:
        registry = load_registry(registry_path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(
            f"无法读取模拟数据文件 {registry_path}：{exc}。"
            "请用 admissions simulate families --registry 文件 重新生成。"
        ) from exc

    def print_url(url: str) -> None:
        if announce:
            click.echo(f"{ANNOUNCE_PREFIX}{url}")
        else:
            click.echo(
                f"模拟服务已启动：{url}（{len(registry.get('feed', []))} 条申请），按 Ctrl-C 停止。"
            )

    try:
        serve(
            registry_path,
            host=host,
            port=port,
            config=config,
            announce=print_url,
            registry=registry,
            parent_pid=parent_pid,
        )
    except OSError as exc:
        raise click.ClickException(
            f"无法监听 {host}:{port}：{exc}。请换一个端口，或用 --port 0 自动选择。"
        ) from exc


def _stop_when_orphaned(server: Any, parent_pid: int) -> None:
    # Polling rather than prctl(PR_SET_PDEATHSIG): that signal fires when the thread
    # that started the child ends, which would stop a server started from a worker.
    while not server.should_exit:
        if os.getppid() != parent_pid:
            logger.warning(
                "parent process %s exited; stopping the simulator", parent_pid
            )
            server.should_exit = True
            return
        time.sleep(PARENT_POLL_SECONDS)


class RunningServices:
    """A simulator subprocess; `.url` is its base URL. Stops on exit of a `with` block."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the subprocess, killing it when it does not exit within `timeout`."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning(
                "simulator pid %s did not stop; killing it", self.process.pid
            )
            self.process.kill()
            self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> RunningServices:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


_running: weakref.WeakSet[RunningServices] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for services in list(_running):
        services.stop()


def start_services(
    registry: Path,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    startup_timeout: float = 20.0,
    **faults: Any,
) -> RunningServices:
    """Start `python -m simulator serve` in a subprocess and wait until /health returns 200.

    `faults` takes the keywords of FAULT_KEYWORDS, for example gov_latency_ms=20,
    sms_error_rate=0.1, feed_outage=(5, 20) or burst_rate=50. Raises RuntimeError
    when the server does not come up within `startup_timeout` seconds.
    """
    unknown = set(faults) - set(FAULT_KEYWORDS)
    if unknown:
        raise TypeError(f"unknown simulator settings {sorted(unknown)}")
    command = [
        sys.executable,
        "-m",
        "simulator",
        "serve",
        "--registry",
        str(registry),
        "--host",
        host,
        "--port",
        str(port),
        "--announce",
        "--parent-pid",
        str(os.getpid()),
    ]
    for keyword, value in faults.items():
        if value is None:
            continue
        if keyword.endswith("_outage"):
            value = f"{value[0]}:{value[1]}"
        elif isinstance(value, date):
            value = value.isoformat()
        command += [FAULT_KEYWORDS[keyword], str(value)]

    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # Its own session, so that Ctrl-C in the terminal reaches only the parent, which
        # then stops the services itself. The services still die with the parent.
        start_new_session=True,
    )
    deadline = time.monotonic() + startup_timeout
    try:
        url = _read_announcement(process, deadline)
        services = RunningServices(process, url)
        _wait_healthy(url, process, deadline)
    except BaseException:
        process.kill()
        process.wait()
        raise
    _running.add(services)
    return services


def _read_announcement(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            line = process.stdout.readline()
            if line.startswith(ANNOUNCE_PREFIX):
                return line[len(ANNOUNCE_PREFIX) :].strip()
            if not line and process.poll() is not None:
                break
        elif process.poll() is not None:
            break
    raise RuntimeError(
        f"simulator did not start (exit code {process.poll()}); see its stderr above"
    )


def _wait_healthy(url: str, process: subprocess.Popen[str], deadline: float) -> None:
    with httpx.Client(base_url=url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"simulator exited with code {process.returncode}")
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for /health of the simulator at {url}")
