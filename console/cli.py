"""The `admissions` command: a Click group whose bare invocation opens the TUI."""

from __future__ import annotations

import importlib
import logging
import sys
import unicodedata

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from console import clicktext
from console.context import AppContext
from console.errors import AdmissionsError

log = logging.getLogger(__name__)

# Click's own messages (usage errors, help headings) in Chinese like the rest.
clicktext.install()

# (module under console.commands, attribute) for every sub-command; imported at start-up
# so that `admissions --help` lists them all, while heavy imports stay inside each command.
COMMANDS = [
    ("init", "init_command"),
    ("season", "season_group"),
    ("simulate", "simulate_group"),
    ("importing", "import_command"),
    ("pull", "pull_command"),
    ("applicants", "applicants_group"),
    ("review", "review_group"),
    ("cases", "cases_group"),
    ("guide", "guide_command"),
    ("lookup", "lookup_command"),
    ("classify", "classify_command"),
    ("allocate", "allocate_group"),
    ("notify", "notify_command"),
    ("stats", "stats_command"),
    ("export", "export_group"),
    ("rehearse", "rehearse_command"),
]


# Commands that commit their work in chunks, so that a re-run continues where an
# interrupted one stopped. The others, but for rehearse and simulate, write in one
# transaction or not at all.
RESUMABLE_COMMANDS = frozenset(
    {"init", "import", "pull", "lookup", "classify", "notify"}
)


class AdmissionsGroup(click.Group):
    """Turns expected failures into a one-line Chinese message and a non-zero exit code.

    Domain errors, database errors, file errors and Ctrl-C never reach staff as a
    traceback. Database messages keep only the driver's first line, and the engine hides
    statement parameters, so no personal data is printed.
    """

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except AdmissionsError as exc:
            raise click.ClickException(f"{exc.title}：{exc.message}") from exc
        except OperationalError as exc:
            raise click.ClickException(database_message(exc, _database(ctx))) from exc
        except DBAPIError as exc:
            log.info("database error: %s", type(exc.orig).__name__)
            raise click.ClickException(database_message(exc, _database(ctx))) from exc
        except BrokenPipeError:
            # The reader of the output went away (`| head`): nothing is left to tell.
            sys.stderr.close()
            raise click.exceptions.Exit(0) from None
        except OSError as exc:
            name = exc.filename or ""
            raise click.ClickException(
                f"文件操作失败：{name}（{exc.strerror or exc}）。请检查路径是否存在、是否有权限。"
            ) from exc
        except KeyboardInterrupt:
            if ctx.invoked_subcommand == "rehearse":
                hint = "演练不能续跑，请重新运行 admissions rehearse。"
            elif ctx.invoked_subcommand in RESUMABLE_COMMANDS:
                hint = "已提交的部分已保存；重新运行同一命令即可从中断处继续。"
            elif ctx.invoked_subcommand == "simulate":
                hint = ""  # Ctrl-C is how the simulator's services are stopped
            else:
                hint = "本命令在一个事务中保存，中断时没有保存任何部分结果。"
            click.echo(f"\n已中断。{hint}", err=True)
            raise click.exceptions.Exit(130) from None


def checked_operator(operator: str, ctx: click.Context) -> str:
    """Return the operator name without outer spaces, or raise a Chinese usage error.

    The name is the actor of every audit event, so a blank name or one with control
    or invisible characters (a newline, an escape sequence, a zero-width space) would
    leave entries that staff cannot read or attribute.
    """
    try:
        operator.encode("utf-8")
    except UnicodeEncodeError:
        # Bytes that are not UTF-8 (a GBK terminal) arrive as surrogate escapes,
        # which no database stores, so the first audit event would fail.
        raise click.UsageError(
            "--operator 或 ADMISSIONS_OPERATOR 给出的操作员账号不是 UTF-8 文本，"
            "可能是终端使用了 GBK 等其他编码。请把终端编码设为 UTF-8 后重新输入账号。",
            ctx,
        ) from None
    name = operator.strip()
    if not name:
        raise click.UsageError(
            "--operator 或 ADMISSIONS_OPERATOR 给出的操作员账号只有空白。"
            "请填写操作员账号，例如 --operator 张三。",
            ctx,
        )
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise click.UsageError(
            f"--operator 或 ADMISSIONS_OPERATOR 给出的操作员账号 {_escaped(name)} "
            "含有换行、制表符或其他不可见字符。请去掉这些字符后重新输入账号。",
            ctx,
        )
    return name


def _escaped(text: str) -> str:
    """Return `text` with each unprintable character written as a Python escape."""
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def _database(ctx: click.Context) -> str:
    """Return the database URL of this invocation with any password hidden."""
    if not isinstance(ctx.obj, AppContext):
        return ""
    try:
        return make_url(ctx.obj.resolved_url).render_as_string(hide_password=True)
    except ArgumentError:
        return ctx.obj.resolved_url


def database_message(exc: DBAPIError, database: str = "") -> str:
    """Describe a database failure in one Chinese line, naming the usual fix."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else ""
    lowered = detail.lower()
    if "file is not a database" in lowered:
        return (
            f"{database or '该文件'} 不是招生控制台的 SQLite 数据库，或文件已损坏。"
            "请检查 --db 或 ADMISSIONS_DB 是否指向正确的数据库文件；"
            "新建数据库请换一个文件名并运行 admissions init。"
        )
    if "database is locked" in lowered or "database is busy" in lowered:
        return "数据库正忙：其他终端正在写入，等待超时。请稍后重试。"
    if "unable to open database file" in lowered:
        return (
            "无法打开数据库文件：请检查 --db 或 ADMISSIONS_DB 的路径及其目录是否存在。"
        )
    if (
        "no such table" in lowered
        or "does not exist" in lowered
        and "relation" in lowered
    ):
        return f"数据库尚未初始化（{detail}）。请先运行 admissions init。"
    if "database" in lowered and "does not exist" in lowered:
        return f"数据库不存在（{detail}）。请检查 --db 中的数据库名，或先在服务器上创建它。"
    if "role" in lowered and "does not exist" in lowered:
        return f"数据库用户不存在（{detail}）。请检查 --db 中的用户名。"
    if "connection" in lowered or "connect" in lowered:
        return f"无法连接数据库服务器（{detail}）。请检查 --db 地址和服务器是否已启动。"
    return f"数据库操作失败（{type(exc.orig).__name__}：{detail}）。"


@click.group(cls=AdmissionsGroup, invoke_without_command=True)
@click.option(
    "--db",
    "db_url",
    envvar="ADMISSIONS_DB",
    default=None,
    help="数据库：SQLAlchemy URL 或 SQLite 文件路径；默认 ./admissions.db（环境变量 ADMISSIONS_DB）。",
)
@click.option(
    "--operator",
    envvar="ADMISSIONS_OPERATOR",
    default=None,
    help="操作员账号，写入审计日志；默认取系统用户名（环境变量 ADMISSIONS_OPERATOR）。",
)
@click.option("-v", "--verbose", is_flag=True, help="在标准错误输出运行日志。")
@click.version_option(package_name="admissions-console")
@click.pass_context
def cli(
    ctx: click.Context, db_url: str | None, operator: str | None, verbose: bool
) -> None:
    """义务教育招生业务控制台。不带子命令时打开招生总览界面。"""
    # Staff read the one-line Chinese results; the English run log shows only with -v.
    # The handler gets the level too, because a library that sets its own logger's
    # level (psycopg sets WARNING) passes records to the root handlers past the root
    # logger's level.
    level = logging.INFO if verbose else logging.CRITICAL
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=[handler],
    )
    app = AppContext(db_url=db_url)
    if operator:
        app.operator = operator
    app.operator = checked_operator(app.operator, ctx)
    ctx.obj = app
    if ctx.invoked_subcommand is None:
        from console.screens.app import run_dashboard

        run_dashboard(app)


for module_name, attribute in COMMANDS:
    try:
        module = importlib.import_module(f"console.commands.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"console.commands.{module_name}":
            raise
        continue  # NOTE: a command whose module is not written yet is left out of the group.
    cli.add_command(getattr(module, attribute))
clicktext.localize_metavars(cli)


def main() -> None:
    cli(prog_name="admissions")
