"""The ``modelyard`` command's boundary: help text and a mistyped setting, for every command."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
import typer.main
from typer.testing import CliRunner

from modelyard.boundary import cli_errors
from modelyard.cli import app
from modelyard.config import Settings
from support import REPO_ROOT, modelyard_argv, service_env

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """The argv path of ``command`` and of every command under it, with the command."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(typer.main.get_command(app)))


def _argv(path: tuple[str, ...]) -> list[str]:
    """``path`` with a value for each required argument of its command."""
    params = COMMANDS[path].params
    required = [p for p in params if p.param_type_name == "argument" and p.required]
    return [*path, *("1" for _ in required)]


# the commands that run something (not a group such as `db`)
LEAVES = [path for path, command in COMMANDS.items() if not hasattr(command, "commands")]
# Commands that read no settings (keygen prints a new key and its hash, whatever is set).
SETTINGS_FREE = {("keygen",)}


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "modelyard")
def test_help_shows_no_value_type_beside_a_flag(path: tuple[str, ...]) -> None:
    done = CliRunner().invoke(app, [*path, "--help"])
    assert done.exit_code == 0, done.output
    assert "--help" in done.output
    assert "<bool>" not in done.output


def test_flags_stay_listed_in_the_help() -> None:
    done = CliRunner().invoke(app, ["up", "--help"])
    assert "--no-viz" in done.output and "<float>" in done.output


def test_a_mistyped_setting_is_one_line_naming_it_for_every_command(tmp_path: Path) -> None:
    """Each command refuses MODELYARD_API_PORT=abc in one line and exit 2 before doing anything."""
    env = service_env(MODELYARD_HOME=tmp_path / "home", MODELYARD_API_PORT="abc")
    started = {
        path: subprocess.Popen(
            modelyard_argv(*_argv(path)),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in LEAVES
        if path not in SETTINGS_FREE
    }
    expected = (
        "error: MODELYARD_API_PORT: input should be a valid integer, unable to parse string "
        "as an integer, got 'abc'\n"
    )
    for path, proc in started.items():
        try:
            _out, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        assert (proc.returncode, err) == (2, expected), " ".join(path)
    assert not (tmp_path / "home").exists()


def test_stream_help_and_the_readme_say_how_to_show_drift() -> None:
    done = CliRunner().invoke(app, ["stream", "--help"])
    words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", done.output).split())
    assert "--shift <float> Add this to every numeric feature value, to show drift" in words
    streaming = README.split("## Streaming scoring", 1)[1].split("\n## ", 1)[0]
    assert "modelyard stream --shift 0.5" in streaming
    assert (
        "threshold in force" in streaming and "To see drift, stream with `--shift X`" in streaming
    )


def test_settings_refused_anywhere_under_the_boundary_are_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Settings built directly (not through get_settings) are reported the same way."""
    monkeypatch.setenv("MODELYARD_WORKER_BATCH_SIZE", "0")
    with pytest.raises(typer.Exit) as exited, cli_errors():
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert exited.value.exit_code == 2
    assert capsys.readouterr().err == (
        "error: MODELYARD_WORKER_BATCH_SIZE: input should be greater than or equal to 1, got '0'\n"
    )
