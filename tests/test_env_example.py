"""`.env.example` ships no usable secret: compose refuses a copy until the passwords are set."""

from __future__ import annotations

import re

from support import REPO_ROOT


def _example() -> dict[str, str]:
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_every_required_secret_is_blank_in_the_example() -> None:
    required: set[str] = set()
    for name in ("compose.yaml", "compose.prod.yaml"):
        text = (REPO_ROOT / name).read_text()
        required |= set(re.findall(r"\$\{([A-Z_]*PASSWORD[A-Z_]*):\?", text))
    assert required >= {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}
    example = _example()
    for variable in sorted(required):
        assert variable in example, f"{variable} is missing from .env.example"
        # `${VAR:?}` refuses an empty value as it refuses a missing one
        assert example[variable] == "", f".env.example gives {variable} a value"
