"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from console.cli import cli
from console.db import alembic_config, create_schema, make_engine

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_sqlite_schema_matches_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    create_schema(engine)
    assert _differences(engine) == []


def test_create_schema_is_idempotent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    create_schema(engine)
    create_schema(engine)
    assert "application" in inspect(engine).get_table_names()


def test_downgrade_to_base_drops_every_table(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    create_schema(engine)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert inspect(engine).get_table_names() == ["alembic_version"]


@pytest.mark.postgres
def test_postgres_schema_matches_models() -> None:
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001 - any connection failure means no server here
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {exc}")
    schema = "migration_check"
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    scoped = make_engine(POSTGRES_URL).execution_options(
        schema_translate_map={None: schema}
    )
    try:
        with scoped.begin() as connection:
            connection.exec_driver_sql(f"SET search_path TO {schema}")
            config = alembic_config(scoped)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            context = MigrationContext.configure(
                connection, opts={"compare_type": True}
            )
            assert list(compare_metadata(context, SQLModel.metadata)) == []
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_gateway_key_backfilled_from_dedup_key(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    # A notice without its application: foreign keys are switched off on a raw
    # connection, since SQLite ignores that pragma inside a transaction.
    raw = engine.raw_connection()
    try:
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.execute(
            "INSERT INTO notice (application_id, dedup_key, kind, mobile, text, state,"
            " attempts, last_error, created_at)"
            " VALUES (1, 'result:1:1:placed:P01', 'result', '13800000000', '测试', 'sent',"
            " 1, '', '2025-08-01 00:00:00')"
        )
    finally:
        raw.close()
    create_schema(engine)
    with engine.connect() as connection:
        keys = connection.exec_driver_sql(
            "SELECT dedup_key, gateway_key FROM notice"
        ).all()
    assert keys == [("result:1:1:placed:P01", "result:1:1:placed:P01")]


def test_init_on_newer_schema_names_versions(tmp_path: Path) -> None:
    """A database upgraded by a newer console gets a Chinese error, not a traceback."""
    database = tmp_path / "newer.db"
    engine = make_engine(f"sqlite:///{database}")
    create_schema(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")

    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{database}", "init"])

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "9999" in result.output
    assert "升级" in result.output
    assert "Traceback" not in result.output
    assert "Can't locate revision" not in result.output
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        assert version.scalar_one() == "9999"


def test_upgrade_from_0003_keeps_rows(tmp_path: Path) -> None:
    """Migration 0004 only adds an index: every audit event of a 0003 database stays."""
    engine = make_engine(f"sqlite:///{tmp_path / 'schema.db'}")
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
        for number in range(3):
            connection.exec_driver_sql(
                "INSERT INTO auditevent (at, actor, action, entity, entity_id, detail)"
                f" VALUES ('2025-07-01 08:00:0{number}', '测试员', 'application.create',"
                f" 'application', '{number}', '{{}}')"
            )

    create_schema(engine)

    indexes = {index["name"] for index in inspect(engine).get_indexes("auditevent")}
    assert "ix_auditevent_entity" in indexes
    with engine.connect() as connection:
        count = connection.exec_driver_sql("SELECT count(*) FROM auditevent")
        assert count.scalar_one() == 3
