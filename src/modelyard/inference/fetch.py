"""Files of a registered version or a run, over the MLflow server's HTTP artifact proxy.

A server that serves artifacts (``mlflow server --serve-artifacts``, as ``modelyard mlflow``
and the compose stack run it) hands out ``mlflow-artifacts:/...`` URIs and serves those
files under ``/api/2.0/mlflow-artifacts/artifacts/``. Fetching them with a plain HTTP client
spares a serving process MLflow's import (seconds and ~150 MB that it would keep). Any other
artifact store (``s3://``, ``file:``...) is MLflow's job: these functions answer None then.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

import httpx

from modelyard.config import masked_url
from modelyard.errors import ModelLoadError
from modelyard.registry import REFUSED, access_refused, rest_client

if TYPE_CHECKING:
    from modelyard.config import MlflowCredentials

_PROXY_SCHEME = "mlflow-artifacts"
TIMEOUT_SECONDS = 30.0


def proxied_path(artifact_uri: str) -> str | None:
    """The path behind the tracking server's artifact proxy, or None for another store."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme != _PROXY_SCHEME or parsed.netloc:
        return None
    return parsed.path.strip("/")


class ArtifactProxy:
    """The artifact proxy and REST API of the MLflow server at ``tracking_uri``.

    A refused login (401, 403) raises :class:`~modelyard.errors.RegistryAuthError`.
    """

    def __init__(
        self,
        tracking_uri: str,
        timeout: float = TIMEOUT_SECONDS,
        credentials: MlflowCredentials | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri.rstrip("/")
        self.credentials = credentials
        self._client = rest_client(f"{self.tracking_uri}/api/2.0/", timeout, 0, credentials)

    def __enter__(self) -> ArtifactProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.close()

    def _get(self, path: str, what: str, params: dict[str, str] | None = None) -> httpx.Response:
        response = self._client.get(path, params=params)
        if response.status_code in REFUSED:
            raise access_refused(self.tracking_uri, response.status_code, what, self.credentials)
        response.raise_for_status()
        return response

    def _json(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        body = self._get(path, "read artifacts", params).json()
        return body if isinstance(body, dict) else {}

    def version_path(self, name: str, version: str) -> str | None:
        """Where the files of ``name`` version ``version`` are behind the proxy (or None)."""
        body = self._json(
            "mlflow/model-versions/get-download-uri", {"name": name, "version": version}
        )
        return proxied_path(str(body.get("artifact_uri", "")))

    def run_path(self, run_id: str) -> str | None:
        """Where the artifacts of run ``run_id`` are behind the proxy (or None)."""
        body = self._json("mlflow/runs/get", {"run_id": run_id})
        info = body.get("run", {}).get("info", {})
        return proxied_path(str(info.get("artifact_uri", "")))

    def read(self, path: str) -> bytes:
        return self._get(f"mlflow-artifacts/artifacts/{quote(path)}", "download artifacts").content

    def files(self, path: str) -> list[str]:
        """Every file under ``path``, relative to it."""
        found: list[str] = []
        folders = [""]
        while folders:
            folder = folders.pop()
            where = f"{path}/{folder}".rstrip("/")
            listing = self._json("mlflow-artifacts/artifacts", {"path": where})
            for entry in listing.get("files", []):
                relative = f"{folder}/{entry['path']}".lstrip("/")
                (folders if entry.get("is_dir") else found).append(relative)
        return found

    def download_version(self, name: str, version: str, target: Path) -> bool:
        """Download the version's MLflow model into ``target`` (atomically); False if not proxied.

        Several processes may download the same version at once: each writes a folder of
        its own and renames it into place; the first rename wins, the others keep its copy.
        """
        if (target / "MLmodel").exists():
            return True
        uri = f"models:/{name}/{version}"
        try:
            path = self.version_path(name, version)
            if path is None:
                return False
            files = self.files(path)
            if "MLmodel" not in files:
                raise ModelLoadError(f"{uri} has no MLmodel file")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
            try:
                for relative in files:
                    local = partial / relative
                    local.parent.mkdir(parents=True, exist_ok=True)
                    local.write_bytes(self.read(f"{path}/{relative}"))
                place(partial, target, uri)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
        except httpx.HTTPError as exc:
            where = masked_url(self.tracking_uri)
            raise ModelLoadError(f"cannot download {uri} from {where}: {exc}") from exc
        return True


def place(folder: Path, target: Path, uri: str) -> None:
    """Rename a downloaded model ``folder`` to ``target``, unless another process did first."""
    try:
        folder.rename(target)
    except OSError as exc:  # another process got there first, or a stale folder is there
        if not (target / "MLmodel").exists():
            raise ModelLoadError(f"cannot put {uri} in the model cache {target}: {exc}") from exc
