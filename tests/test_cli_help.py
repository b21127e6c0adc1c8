"""Every command and sub-command registered on the `admissions` group has help."""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import console.commands
from console.cli import COMMANDS, cli


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
    assert "Usage:" in result.output
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert command.help, f"{' '.join(path)} has no help text"
