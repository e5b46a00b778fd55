"""A real `modelyard serve` process on a free port, and a client bound to it.

A module of its own (not the conftest) so that test modules import it by a name no other
folder's conftest shadows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from support import free_port, modelyard_argv, running, service_env, serving_only_env


@dataclass(frozen=True)
class Api:
    """A running API process and a client bound to it."""

    url: str
    client: httpx.Client
    log: Path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.post(path, **kwargs)


ApiFactory = Callable[..., contextlib.AbstractContextManager[Api]]


@contextlib.contextmanager
def start_api(
    registry: Any,
    home: Path,
    log: Path,
    *,
    wait_ready: bool = True,
    tracking_uri: str | None = None,
    serving_only: bool = False,
    **settings: object,
) -> Iterator[Api]:
    """`modelyard serve` on a free port with ``MODELYARD_<KEY>=value`` for each setting.

    ``registry`` gives the model name and tracking URI (``tracking_uri`` overrides the URI).
    ``serving_only``: the process and its children cannot import the extras, as in the
    serving image (``modelyard-serve``).
    """
    port = free_port()
    values: dict[str, object] = {"MODELYARD_API_PORT": port, "MODELYARD_REGISTRY_POLL_SECONDS": 0}
    values.update({f"MODELYARD_{k.upper()}": v for k, v in settings.items()})
    values.update(
        MLFLOW_TRACKING_URI=tracking_uri or registry.tracking_uri,
        MODELYARD_MODEL_NAME=registry.model_name,
        MODELYARD_HOME=home,
    )
    env = (
        serving_only_env(home / "serving-only", **values) if serving_only else service_env(**values)
    )
    url = f"http://127.0.0.1:{port}"
    ready = f"{url}/ready" if wait_ready else f"{url}/health"
    with (
        running(modelyard_argv("serve"), env, log, ready_url=ready, timeout=180),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield Api(url, client, log)
