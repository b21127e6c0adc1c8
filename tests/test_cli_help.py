"""Help pages, usage errors and progress lines of the `admissions` commands."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.cells import cell_len

import console.commands
from console import clicktext
from console.cli import COMMANDS, cli
from console.commands.options import progress_printer


def command_paths(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Return the argument path of every command below `group`, groups included."""
    paths = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        paths.append(path)
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, path))
    return paths


def test_group_help_lists_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])

    assert result.exit_code == 0, result.output
    for name in cli.commands:
        assert name in result.output


def test_written_commands_are_registered() -> None:
    """A command module that exists must be on the group, not skipped as unwritten."""
    commands_dir = Path(console.commands.__file__).parent
    for module_name, attribute in COMMANDS:
        if not (commands_dir / f"{module_name}.py").exists():
            continue
        module = importlib.import_module(f"console.commands.{module_name}")
        command = getattr(module, attribute)
        assert cli.commands.get(command.name) is command, module_name


@pytest.mark.parametrize("path", command_paths(cli), ids=" ".join)
def test_command_help_exits_zero(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])

    assert result.exit_code == 0, result.output
    assert "用法：" in result.output
    assert "Show this message" not in result.output
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert command.help, f"{' '.join(path)} has no help text"


# Click message ids that only a developer of the console can meet (a wrong
# declaration in the code, an unknown stream or colour), left in English.
DEVELOPER_MESSAGES = {
    "Could not determine name for option with declarations {decls!r}",
    "No options defined but a name was passed ({name}). Did you mean to declare "
    "an argument instead? Did you mean to pass '--{name}'?",
    "Arguments take exactly one parameter declaration, got {length}: {decls}.",
    "Name '{name}' defined twice",
    "Boolean option {decl!r} cannot use the same flag for true/false.",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}",
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}",
    "Invalid start character for option ({option})",
    "Choice({choices})",
    "unknown error",
    "Unknown color {colour!r}",
    "Unknown standard stream '{name}'",
}


def click_message_ids() -> set[str]:
    """Return the first argument of every `_` and `ngettext` call in Click's modules."""
    found = set()
    for name in clicktext._MODULES:
        source = Path(importlib.import_module(name).__file__ or "").read_text()
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "ngettext")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.add(node.args[0].value)
    return found


def test_click_messages_all_translated() -> None:
    untranslated = (
        click_message_ids()
        - clicktext.MESSAGES.keys()
        - clicktext.PLURALS.keys()
        - DEVELOPER_MESSAGES
    )
    assert untranslated == set()


def test_catalogue_keys_are_click_ids() -> None:
    """A Click upgrade that renames a message shows here instead of in English."""
    # Click passes "required" to `_` through a variable, which the scan cannot see.
    ids = click_message_ids() | {"required"}
    assert set(clicktext.MESSAGES) <= ids
    assert set(clicktext.PLURALS) <= ids


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["import"], "错误：缺少参数 '文件'。"),
        (["allocate", "explain"], "错误：缺少参数 '申请号'。"),
        (["lookup"], "错误：缺少选项 '--county'。"),
        (["import", "a.csv", "--chunk-size", "abc"], "'--chunk-size' 的值无效"),
        (
            ["import", "a.csv", "--stage", "high"],
            "'high' 不是以下之一：'primary', 'junior'",
        ),
        (["imprt"], "没有命令 'imprt'。 是否要输入 'import'？"),
        (["stats", "--bogus"], "没有选项 '--bogus'"),
        (["import", "a.csv", "b.csv"], "多余的参数（b.csv）"),
        (["import", "a.csv", "--errors"], "选项 '--errors' 需要一个值"),
    ],
)
def test_usage_errors_are_chinese(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 2
    assert expected in result.output
    for english in ("Error:", "Usage:", "Try '", "Missing", "No such", "Invalid"):
        assert english not in result.output


def test_progress_printer_prints_first_and_last(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = progress_printer("已查询申请", every_seconds=3600)
    for done in (200, 400, 600):
        report(done, 600)

    lines = capsys.readouterr().err.splitlines()
    assert lines == ["已查询申请 200/600（33%）", "已查询申请 600/600（100%）"]


def _help_lines(path: tuple[str, ...], width: int) -> list[str]:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=width)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


@pytest.mark.parametrize("path", command_paths(cli), ids=" ".join)
def test_help_fits_80_columns(path: tuple[str, ...]) -> None:
    """Chinese characters take two terminal columns, so help must wrap by cells."""
    for line in _help_lines(path, 80):
        assert cell_len(line) <= 80, line


@pytest.mark.parametrize("path", command_paths(cli), ids=" ".join)
def test_help_option_column_aligned(path: tuple[str, ...]) -> None:
    """Every option's help starts in one terminal column, even after a Chinese metavar."""
    lines = _help_lines(path, 120)
    start = lines.index("选项:") + 1
    columns = set()
    for line in lines[start:]:
        if not line.startswith("  -"):
            continue
        # An option too long for the first column has its help on the next line.
        first_column = re.match(r"  -\S.*?\s{2,}(?=\S)", line)
        if first_column is not None:
            columns.add(cell_len(first_column.group(0)))
    assert len(columns) == 1, columns


def test_help_keeps_file_suffix_whole() -> None:
    """A line break never splits a word such as .xlsx between two lines."""
    text = "\n".join(_help_lines(("import",), 80))
    assert ".xlsx" in text
    assert ".csv" in text


# Click's English placeholders; a staff member reads each in usage lines and errors.
ENGLISH_METAVARS = re.compile(
    r"\[OPTIONS\]|\bCOMMAND\b|\[ARGS\]|\bTEXT\b|\bINTEGER\b|\bFLOAT\b|\bYEAR\b"
    r"|\bFILE\b|\bRUN_ID\b|\bFIRST_RUN\b|\bSECOND_RUN\b|\bAPPLICATION_ID\b|\bKEY\b"
)


@pytest.mark.parametrize("path", command_paths(cli), ids=" ".join)
def test_help_placeholders_are_chinese(path: tuple[str, ...]) -> None:
    output = "\n".join(_help_lines(path, 120))

    assert ENGLISH_METAVARS.findall(output) == []


def test_missing_parameter_ends_in_chinese_stop() -> None:
    result = CliRunner().invoke(cli, ["allocate", "diff", "1"])

    assert result.exit_code == 2
    assert "缺少参数 '第二次分配记录编号'。" in result.output
    assert "'." not in result.output
