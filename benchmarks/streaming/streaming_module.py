"""benchmarks/streaming/run.py as a module, for the benchmarks that reuse its pieces.

Each benchmark's script is a ``run.py``, so another one cannot simply import it by name: this
loads the file under the name ``streaming_benchmark`` once.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


@functools.cache
def streaming_benchmark() -> ModuleType:
    """benchmarks/streaming/run.py: its MLflow server start, training and measurements."""
    spec = importlib.util.spec_from_file_location(
        "streaming_benchmark", Path(__file__).resolve().parent / "run.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module
