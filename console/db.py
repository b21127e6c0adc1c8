"""Engine and session construction from a SQLAlchemy URL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlmodel import Session, SQLModel, create_engine

from console import models  # noqa: F401  (registers the tables)
from console.errors import AdmissionsError, NotFoundError

if TYPE_CHECKING:
    # Alembic is imported where a schema is created, not at every command's start.
    from alembic.config import Config as AlembicConfig

DEFAULT_DB = "sqlite:///admissions.db"
ENV_DB = "ADMISSIONS_DB"


def resolve_url(url: str | None) -> str:
    """Return the database URL: the argument, then $ADMISSIONS_DB, then ./admissions.db."""
    value = url or os.environ.get(ENV_DB) or DEFAULT_DB
    if "://" not in value:
        value = f"sqlite:///{Path(value)}"
    return value


def _configure_sqlite(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Let SQLAlchemy, not the sqlite3 module, emit BEGIN: the module's own transaction
    # handling commits on SAVEPOINT/RELEASE, which would break nested transactions.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_sqlite(connection) -> None:  # type: ignore[no-untyped-def]
    # IMMEDIATE takes the write lock at the start, so two writers queue on the busy
    # timeout. A deferred BEGIN that reads first and writes later fails at once with
    # "database is locked" when another writer got there in between. In WAL mode
    # readers are not blocked by it.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str | None = None, *, must_exist: bool = False) -> Engine:
    """Build an engine; SQLite gets WAL, foreign keys and a 30 s busy timeout.

    With `must_exist`, a SQLite file that is not there raises NotFoundError instead of
    being created empty, so a mistyped path is reported rather than silently used.
    Parameters are left out of database error messages, which would otherwise show
    personal data.
    """
    resolved = resolve_url(url)
    if resolved.startswith("postgresql://"):
        resolved = "postgresql+psycopg://" + resolved.removeprefix("postgresql://")
    try:
        parsed = make_url(resolved)
        if parsed.get_backend_name() == "sqlite":
            path = parsed.database
            if must_exist and path and path != ":memory:" and not Path(path).exists():
                raise NotFoundError(
                    f"{path}。请检查 --db 或 ADMISSIONS_DB 的路径；"
                    "新建数据库请先运行 admissions init。",
                    title="数据库文件不存在",
                )
            engine = create_engine(
                parsed, connect_args={"timeout": 30}, hide_parameters=True
            )
            event.listen(engine, "connect", _configure_sqlite)
            event.listen(engine, "begin", _begin_sqlite)
        else:
            engine = create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError) as exc:
        raise AdmissionsError(
            f"数据库地址 {resolve_url(url)} 无效或不受支持（{exc}）。"
            "可用的例子：sqlite:///season.db、postgresql://127.0.0.1/test。"
        ) from exc
    return engine


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    """Return an Alembic configuration for the console's migrations on `engine`."""
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option(
        # configparser treats % as interpolation, and URLs carry %-escapes.
        "sqlalchemy.url",
        engine.url.render_as_string(hide_password=False).replace("%", "%%"),
    )
    return config


def create_schema(engine: Engine) -> None:
    """Bring the database schema to the latest migration (a new database gets every table)."""
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        _reject_unknown_revision(connection, config)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _reject_unknown_revision(connection: Connection, config: AlembicConfig) -> None:
    """Raise a Chinese error when a newer console has already upgraded the schema.

    Alembic cannot upgrade from a revision that it has no script for, and would stop
    with an English traceback. The check leaves the database untouched.
    """
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    known = {revision.revision for revision in script.walk_revisions()}
    current = MigrationContext.configure(connection).get_current_heads()
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        raise AdmissionsError(
            f"数据库架构版本为 {'、'.join(unknown)}，比本程序支持的最高版本 "
            f"{script.get_current_head()} 新，说明已由更新版本的招生控制台升级过。"
            "请先把本机的招生控制台升级到最新版本，再运行 admissions init；数据库未做任何改动。",
            title="数据库版本过新",
        )


def drop_schema(engine: Engine) -> None:
    """Drop every table of the console, including Alembic's version table."""
    SQLModel.metadata.drop_all(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
