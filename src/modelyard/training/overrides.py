"""Training parameter overrides from the command line: ``--param model.scale=false``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelyard.errors import ConfigError


def parse_value(text: str) -> Any:
    """A YAML scalar or flow value: ``0.5`` → 0.5, ``null`` → None, ``[a, b]`` → a list."""
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def nested(key: str, value: Any) -> dict[str, Any]:
    """``a.b.c`` and a value → ``{"a": {"b": {"c": value}}}``."""
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ConfigError(f"--param: {key!r} is not a dotted parameter name")
    out: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        out = {part: out}
    return out


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge; ``extra`` wins."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_params(items: Iterable[str]) -> dict[str, Any]:
    """``["model.estimator=random_forest", ...]`` → nested overrides."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--param: expected key=value, got {item!r}")
        out = merge(out, nested(key.strip(), parse_value(raw)))
    return out
