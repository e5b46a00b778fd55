"""Which optional extra provides which module, and how to say that one is missing.

The base dependencies are the prediction API alone (the ``modelyard-serve`` image); the
rest comes in the extras of ``pyproject.toml``. Keep these tables in step with them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable

from modelyard.errors import MissingExtraError

# The extra that provides each optional top-level module.
EXTRA_OF = {
    "pandas": "sklearn",
    "sklearn": "sklearn",
    "skl2onnx": "sklearn",
    "skops": "sklearn",
    "alembic": "stream",
    "psycopg": "stream",
    "scipy": "stream",
    "sqlalchemy": "stream",
    "kedro": "train",
    "matplotlib": "train",
    "kedro_viz": "viz",
    "xgboost": "xgboost",  # onnxmltools comes with both boosting extras
    "lightgbm": "lightgbm",
    "dash": "ui",
    "plotly": "ui",
}

# Extras that install others (train has modelyard[sklearn], ui has modelyard[stream]...).
INCLUDES: dict[str, tuple[str, ...]] = {
    "train": ("sklearn",),
    "ui": ("stream",),
    "xgboost": ("sklearn",),
    "lightgbm": ("sklearn",),
}

# The extras each command needs, under the names `modelyard up` gives the services that run
# them. Commands that start another program (the MLflow server, Kedro-Viz) and `up` check
# before starting anything; the others import in process and fail on the first import.
NEEDS: dict[str, tuple[str, ...]] = {
    "mlflow": ("train",),  # the tracking server is the full mlflow package of the train extra
    "train": ("train",),
    "db": ("stream",),
    "worker": ("stream",),
    "stream": ("stream", "train"),  # replays the rows the training pipeline holds out
    "ui": ("ui",),
    "viz": ("viz",),
}

# Where a command needs only part of an extra: the modules that show that part is installed.
# The MLflow tracking server is the full mlflow package of the train extra (Flask,
# SQLAlchemy, Alembic); the modelyard-mlflow image has it without Kedro or scikit-learn.
PART_NEEDED: dict[tuple[str, str], tuple[str, ...]] = {
    ("mlflow", "train"): ("flask", "sqlalchemy", "alembic"),
}

# The services `modelyard up` can leave out, and how.
LEAVE_OUT = {"train": "--no-train", "stream": "--no-stream", "ui": "--no-ui", "viz": "--no-viz"}

# Where each extra is installed already.
IMAGES = (
    "the modelyard-serve image runs `modelyard serve` only; the modelyard-app image has every extra"
)


def extra_for(exc: ImportError) -> tuple[str, str | None]:
    """The top-level module a failed import lacked, and the extra that provides it."""
    module = (exc.name or "").partition(".")[0] or str(exc)
    return module, EXTRA_OF.get(module)


def lacking(module: str, extra: str) -> str:
    """The sentence that tells a user what to install."""
    return f"{module}, which this installation lacks: install modelyard[{extra}] ({IMAGES})"


def absent_module(extra: str) -> str | None:
    """A module that ``extra`` (or an extra it includes) provides and that is not installed."""
    for owner in (extra, *INCLUDES.get(extra, ())):
        found = _first_absent(m for m, provider in EXTRA_OF.items() if provider == owner)
        if found is not None:
            return found
    return None


def missing_extra(command: str) -> str | None:
    """The first extra that ``command`` needs and this installation lacks (None: none)."""
    for extra in NEEDS.get(command, ()):
        part = PART_NEEDED.get((command, extra))
        if (_first_absent(part) if part else absent_module(extra)) is not None:
            return extra
    return None


def _first_absent(modules: Iterable[str]) -> str | None:
    return next((m for m in modules if importlib.util.find_spec(m) is None), None)


def require_extras(command: str) -> None:
    """Raise :class:`MissingExtraError` naming the extra ``command`` lacks, if any."""
    extra = missing_extra(command)
    if extra is not None:
        raise MissingExtraError(
            f"`modelyard {command}` needs the {extra} extra, which this installation lacks: "
            f"install modelyard[{extra}] ({IMAGES})"
        )


def services_lacking_extras(services: Iterable[str]) -> dict[str, str]:
    """Which of ``services`` (the names `modelyard up` gives them) lack an extra, and which."""
    return {name: extra for name in services if (extra := missing_extra(name)) is not None}


def check_services(services: Iterable[str]) -> None:
    """Raise :class:`MissingExtraError` naming every service of ``up`` that lacks an extra."""
    missing = services_lacking_extras(services)
    if not missing:
        return
    by_extra: dict[str, list[str]] = {}
    for name, extra in missing.items():
        by_extra.setdefault(extra, []).append(name)
    needs = "; ".join(
        f"{_join(names)} need{'s' if len(names) == 1 else ''} modelyard[{extra}]"
        for extra, names in by_extra.items()
    )
    # the optional services can be left out instead, when only they lack an extra
    flags = [LEAVE_OUT[name] for name in missing if name in LEAVE_OUT]
    instead = f" or run `modelyard up {' '.join(flags)}`" if len(flags) == len(missing) else ""
    raise MissingExtraError(
        f"`modelyard up`: {needs}, which this installation lacks: install "
        f"modelyard[{','.join(by_extra)}]{instead} (the modelyard-app image has every extra)"
    )


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
