"""Which optional extra provides which module, and how to say that one is missing.

The base dependencies are the prediction API alone (the ``modelyard-serve`` image); the
rest comes in the extras of ``pyproject.toml``. Keep this table in step with them.
"""

from __future__ import annotations

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
    "dash": "ui",
    "plotly": "ui",
}


def extra_for(exc: ImportError) -> tuple[str, str | None]:
    """The top-level module a failed import lacked, and the extra that provides it."""
    module = (exc.name or "").partition(".")[0] or str(exc)
    return module, EXTRA_OF.get(module)


def lacking(module: str, extra: str) -> str:
    """The sentence that tells a user what to install."""
    return (
        f"{module}, which this installation lacks: install modelyard[{extra}] (the "
        "modelyard-serve image runs `modelyard serve` only; the modelyard-app image has "
        "every extra)"
    )
