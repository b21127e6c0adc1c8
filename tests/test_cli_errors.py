"""Failures reach staff as one Chinese line and a non-zero exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from console.cli import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    code, output = run("--db", str(path), "stats")
    assert code == 1
    assert "不存在" in output
    assert "admissions init" in output
    assert not path.exists()


def test_init_in_missing_folder_is_one_line(tmp_path: Path) -> None:
    code, output = run("--db", str(tmp_path / "no" / "such" / "x.db"), "init")
    assert code == 1
    assert "无法打开数据库文件" in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1


def test_unsupported_url_names_examples() -> None:
    code, output = run("--db", "mysql://nobody@127.0.0.1/x", "stats")
    assert code == 1
    assert "mysql://nobody@127.0.0.1/x" in output
    assert "sqlite:///" in output


def test_refused_server_is_one_line() -> None:
    # Port 9 (discard) is closed on loopback here, so the connection is refused.
    code, output = run("--db", "postgresql://postgres@127.0.0.1:9/test", "stats")
    assert code == 1
    assert "无法连接数据库服务器" in output
    assert "Traceback" not in output


def test_uninitialised_database_asks_for_init(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "blank.db"
    sqlite3.connect(path).close()
    code, output = run(
        "--db", str(path), "season", "open", "--year", "2025", "--county", "白银区"
    )
    assert code == 1
    assert "admissions init" in output


def test_export_refuses_database_and_existing_files(tmp_path: Path) -> None:
    database = tmp_path / "season.db"
    code, _output = run("--db", str(database), "init")
    assert code == 0
    code, output = run(
        "--db",
        str(database),
        "export",
        "allocation",
        "--county",
        "白银区",
        "--format",
        "xlsx",
        "-o",
        str(database),
    )
    assert code == 1
    assert "数据库文件" in output
    code, output = run(
        "--db",
        str(database),
        "export",
        "allocation",
        "--county",
        "白银区",
        "--format",
        "xlsx",
        "-o",
        f"{database}-wal",
        "--force",
    )
    assert code == 1
    assert "数据库文件" in output
    existing = tmp_path / "kept.xlsx"
    existing.write_bytes(b"staff file")
    code, output = run(
        "--db",
        str(database),
        "export",
        "allocation",
        "--county",
        "白银区",
        "--format",
        "xlsx",
        "-o",
        str(existing),
    )
    assert code == 1
    assert "--force" in output
    assert existing.read_bytes() == b"staff file"
    import sqlite3

    with sqlite3.connect(database) as connection:
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    assert tables > 0


def test_season_year_out_of_range_rejected(tmp_path: Path) -> None:
    db = str(tmp_path / "season.db")
    assert run("--db", db, "init")[0] == 0

    for year in ("0", "99999", "2205"):
        code, output = run(
            "--db", db, "season", "open", "--year", year, "--county", "白银区"
        )
        assert code == 2, output
        assert "Traceback" not in output
        assert f"招生年度 {year} 无效" in output
    code, output = run(
        "--db", db, "season", "close", "--year", "0", "--county", "白银区"
    )
    assert code == 2, output


def test_rehearse_year_out_of_range_rejected(tmp_path: Path) -> None:
    code, output = run(
        "rehearse", "--families", "5", "--county", "白银区", "--year", "99999",
        "--workdir", str(tmp_path),
    )  # fmt: skip
    assert code == 2, output
    assert "招生年度 99999 无效" in output
    assert not list(tmp_path.iterdir())


def test_file_not_database_names_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("这不是数据库\n" * 100, encoding="utf-8")

    code, output = run("--db", str(path), "stats")

    assert code == 1
    assert "notes.db" in output
    assert "不是招生控制台的 SQLite 数据库" in output
    assert "file is not a database" not in output
    assert len(output.strip().splitlines()) == 1


def test_library_warnings_shown_only_verbose(tmp_path: Path) -> None:
    """psycopg sets its own logger to WARNING, but its warnings show only with -v."""
    import subprocess
    import sys

    script = (
        "import logging, sys, click\n"
        "import psycopg  # imported as a PostgreSQL engine connects\n"
        "from console.cli import cli\n"
        "cli.add_command(click.Command('warn', callback=lambda: "
        "logging.getLogger('psycopg').warning('pipeline aborted')))\n"
        "cli(sys.argv[1:])\n"
    )
    for flags, expect_warning in (([], False), (["-v"], True)):
        result = subprocess.run(
            [sys.executable, "-c", script, *flags, "warn"],
            capture_output=True, text=True, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert ("pipeline aborted" in result.stderr) is expect_warning, result.stderr


def test_season_bad_date_names_format(tmp_path: Path) -> None:
    db = str(tmp_path / "season.db")
    assert run("--db", db, "init")[0] == 0

    for value in ("2025-13-01", "2025/07/01", "七月一日"):
        code, output = run(
            "--db", db, "season", "open", "--year", "2025", "--county", "白银区",
            "--opens", value,
        )  # fmt: skip
        assert code == 2, output
        assert f"日期 {value} 无效" in output
        assert "2025-07-01" in output
        assert "%Y" not in output
    code, output = run("--db", db, "season", "open", "--help")
    assert "%Y" not in output
    assert "--opens YYYY-MM-DD" in output


def test_season_date_accepted(tmp_path: Path) -> None:
    db = str(tmp_path / "season.db")
    assert run("--db", db, "init")[0] == 0

    code, output = run(
        "--db", db, "season", "open", "--year", "2025", "--county", "白银区",
        "--opens", "2025-06-20", "--closes", "2025-07-10",
    )  # fmt: skip

    assert code == 0, output
    assert "2025-06-20 至 2025-07-10" in output


def test_service_address_validated_before_work(tmp_path: Path) -> None:
    """A mistyped address is an input error, not a service that is down."""
    db = str(tmp_path / "season.db")
    assert run("--db", db, "init")[0] == 0
    commands = [
        ("lookup", "--county", "白银区", "--services"),
        ("notify", "--county", "白银区", "--sms"),
    ]

    for command in commands:
        for value in ("ftp://127.0.0.1:8701", "白银", "http://", "127.0.0.1:8701"):
            code, output = run("--db", db, *command, value)
            assert code == 2, output
            assert f"地址 {value} 无效" in output
            assert "http://127.0.0.1:8701" in output
            assert "稍后" not in output


def test_service_address_accepts_loopback_url(tmp_path: Path) -> None:
    db = str(tmp_path / "season.db")
    assert run("--db", db, "init")[0] == 0
    assert (
        run("--db", db, "season", "open", "--year", "2025", "--county", "白银区")[0]
        == 0
    )

    code, output = run(
        "--db",
        db,
        "lookup",
        "--county",
        "白银区",
        "--services",
        " http://127.0.0.1:9/ ",
    )

    assert code == 0, output
    assert "申请 0 份" in output


def test_ctrl_c_stops_simulator_without_hint(tmp_path: Path) -> None:
    """Ctrl-C is how staff stop the simulator: no word about saved or lost work."""
    import signal
    import subprocess
    import sys

    from simulator.families import generate_families, write_registry

    registry = tmp_path / "registry.json"
    write_registry(generate_families(county_code="620402", count=3, seed=1, year=2025),
                   registry)  # fmt: skip
    admissions = Path(sys.executable).parent / "admissions"
    process = subprocess.Popen(
        [str(admissions), "simulate", "serve", "--registry", str(registry),
         "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert process.stdout is not None
    assert "模拟服务已启动" in process.stdout.readline()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)

    assert "已中断。" in err
    assert "保存" not in err
