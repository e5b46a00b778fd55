"""The README documents every setting and the commands it shows exist."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from pydantic import AliasChoices

from modelyard.cli import app
from modelyard.config import Settings
from support import REPO_ROOT, VENV_BIN

README = (REPO_ROOT / "README.md").read_text()


def env_name(field: str) -> str:
    """The variable a setting is read from: its alias (the first of them), else MODELYARD_*."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        alias = alias.choices[0]
    return alias if isinstance(alias, str) else f"MODELYARD_{field.upper()}"


def test_every_setting_is_documented_with_its_default() -> None:
    rows = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \|", README, re.M))
    for name, field in Settings.model_fields.items():
        env = env_name(name)
        assert env in rows, f"{env} is missing from the README's settings table"
        if field.default is not None and not isinstance(field.default, bool):
            assert str(field.default) in rows[env], f"{env}: README default differs"


def test_documented_settings_exist() -> None:
    known = {env_name(n) for n in Settings.model_fields}
    documented = set(re.findall(r"^\| `(MODELYARD_[A-Z0-9_]+)` \|", README, re.M))
    assert documented <= known, documented - known


def test_commands_in_the_readme_exist() -> None:
    commands = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    commands |= {g.name for g in app.registered_groups if g.name}
    for used in set(re.findall(r"(?:uv run |^|\| `)modelyard ([a-z]+)", README, re.M)):
        assert used in commands, f"README uses `modelyard {used}`, which does not exist"


def test_training_parameters_in_the_readme_exist() -> None:
    import yaml

    params: dict[str, object] = {}
    for name in ("parameters_training.yml", "parameters_training_images.yml"):
        params |= yaml.safe_load((REPO_ROOT / "conf" / "base" / name).read_text())
    used = [k for k in re.findall(r"--param ([\w.]+)=", README) if k != "key"]
    assert used, "the README shows no --param example"
    for key in used:
        node = params
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"README uses --param {key}"
            node = node[part]


def test_every_setting_row_states_its_default() -> None:
    rows = re.findall(r"^\| `((?:MODELYARD|MLFLOW)_[A-Z0-9_]+)` \| ([^|]*) \|", README, re.M)
    assert rows
    for name, default in rows:
        assert default.strip(), f"{name}: no default in the README"
        assert "see description" not in default, f"{name}: the default is not stated"


@pytest.mark.integration
@pytest.mark.postgres
def test_the_postgresql_example_runs_as_written() -> None:
    """The streaming section's `db upgrade` line, against the server `make postgres` sets up."""
    line = next(
        ln for ln in README.splitlines() if "postgresql://" in ln and "modelyard db upgrade" in ln
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "-c", line],
        check=False,
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
