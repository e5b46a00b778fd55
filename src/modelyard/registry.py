"""The MLflow model registry as modelyard uses it: versions, aliases, promotion history.

Every service reaches MLflow through this module and only over ``MLFLOW_TRACKING_URI``.
Promotion moves the ``champion`` alias and records when it happened, so that the
dashboard can show it and ``rollback`` can undo it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from modelyard.config import masked_url
from modelyard.errors import (
    ModelNotFoundError,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
)

if TYPE_CHECKING:
    import httpx
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

    from modelyard.config import MlflowCredentials, Settings

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
HISTORY_TAG = "modelyard.champion_history"
PROMOTED_AT_TAG = "modelyard.promoted_at"


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version, flattened for display and serving."""

    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    created_at: float
    tags: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    uri: str | None = None  # a fixed reference's URI (see modelyard.bindings); None: registered

    @property
    def resolved(self) -> str:
        """What the reference resolved to: ``models:/name/3``, ``runs:/...``, a folder."""
        return self.uri or f"models:/{self.name}/{self.version}"

    @property
    def fixed(self) -> bool:
        """Whether this is a fixed source (a run, a logged model, a folder), not a version."""
        return self.uri is not None

    @property
    def metrics(self) -> dict[str, float]:
        """Metrics the training pipeline tagged the version with (``metric.<name>``)."""
        out: dict[str, float] = {}
        for key, value in self.tags.items():
            if key.startswith("metric."):
                try:
                    out[key.removeprefix("metric.")] = float(value)
                except ValueError:
                    continue
        return out

    @property
    def promoted_at(self) -> float | None:
        value = self.tags.get(PROMOTED_AT_TAG)
        return float(value) if value else None

    @classmethod
    def from_rest(cls, mv: dict[str, Any]) -> VersionInfo:
        """From a ``model_version`` object of MLflow's REST API."""
        return cls(
            name=str(mv["name"]),
            version=str(mv["version"]),
            run_id=mv.get("run_id") or None,
            aliases=tuple(sorted(mv.get("aliases") or ())),
            created_at=int(mv.get("creation_timestamp") or 0) / 1000.0,
            tags={str(t["key"]): str(t.get("value", "")) for t in mv.get("tags") or ()},
            source=mv.get("source"),
        )

    @classmethod
    def from_mlflow(cls, mv: ModelVersion) -> VersionInfo:
        return cls(
            name=mv.name,
            version=str(mv.version),
            run_id=mv.run_id,
            aliases=tuple(sorted(getattr(mv, "aliases", None) or ())),
            created_at=(mv.creation_timestamp or 0) / 1000.0,
            tags=dict(mv.tags or {}),
            source=mv.source,
        )


def rest_client(
    base_url: str,
    timeout: float,
    retries: int = 0,
    credentials: MlflowCredentials | None = None,
) -> httpx.Client:
    """An HTTP client for MLflow's REST API at ``base_url``, logging in with ``credentials``.

    Certificates are loaded only for an ``https://`` server: loading the CA bundle takes
    ~0.1 s per client, which a short command (``modelyard score``) would pay for each of
    its clients on a plain ``http://`` server that uses none.
    """
    import httpx

    tls = base_url.startswith("https://")
    transport = httpx.HTTPTransport(retries=retries, verify=tls)
    return httpx.Client(
        base_url=base_url,
        timeout=timeout,
        transport=transport,
        verify=tls,
        auth=credentials.basic if credentials is not None else None,
    )


REFUSED = frozenset({401, 403})
_REFUSED_CODES = {"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403}


def refused_status(exc: BaseException) -> int | None:
    """401 or 403 when ``exc`` is MLflow's client (or httpx) reporting a refused login."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if status in REFUSED:
        return int(status)
    return _REFUSED_CODES.get(str(getattr(exc, "error_code", "")))


def access_refused(
    tracking_uri: str, status: int, what: str, credentials: MlflowCredentials | None
) -> RegistryAuthError:
    """The error for MLflow's 401 or 403: it names the settings to fix, never their values."""
    where = f"MLflow at {masked_url(tracking_uri)}"
    if status == 403:
        return RegistryAuthError(
            f"{where} denied the user MLFLOW_TRACKING_USERNAME names the permission to "
            f"{what} (HTTP 403): an MLflow admin can grant it"
        )
    if credentials is None and urlsplit(tracking_uri).password is None:
        return RegistryAuthError(
            f"{where} needs a login ({what}: HTTP 401): set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD"
        )
    return RegistryAuthError(
        f"{where} refused the login of MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
        f"({what}: HTTP 401)"
    )


def _is_unreachable(exc: Exception) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return any(
        marker in text
        for marker in ("ConnectionError", "Max retries", "Connection refused", "timed out")
    )


_NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "INVALID_PARAMETER_VALUE"})


def _is_not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code in _NOT_FOUND_CODES or ("not found" in str(exc).lower())


class Registry:
    """The registered model ``name`` in the MLflow server at ``tracking_uri``."""

    def __init__(
        self,
        tracking_uri: str,
        name: str,
        client: MlflowClient | None = None,
        *,
        http_retries: int = 2,
        http_timeout: int = 30,
        credentials: MlflowCredentials | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.name = name
        self.credentials = credentials
        self._client = client
        self._http: httpx.Client | None = None
        self._http_retries = http_retries
        self._http_timeout = http_timeout
        # MLflow's client reads its HTTP policy from the process environment on every call;
        # its defaults (7 retries, exponential backoff) would hide an outage for minutes.
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(http_retries)
        os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
        os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(http_timeout)
        # and its login too (MLFLOW_TRACKING_USERNAME/_PASSWORD), which the settings may
        # have read from .env: MLflow's client, and the processes that prepare a model
        # with it, find them there
        if credentials is not None:
            os.environ.update(credentials.env())

    @classmethod
    def from_settings(cls, settings: Settings, name: str | None = None) -> Registry:
        """The registered model ``name`` (default: MODELYARD_MODEL_NAME) of the settings' MLflow."""
        return cls(
            settings.tracking_uri,
            name or settings.model_name,
            http_retries=settings.mlflow_http_retries,
            http_timeout=settings.mlflow_http_timeout,
            credentials=settings.mlflow_credentials,
        )

    @property
    def _rest(self) -> httpx.Client | None:
        """A plain HTTP client for reads when MLflow is a server (None for local stores).

        Resolving a reference is what the API and the worker do at start and on every poll;
        over REST it needs neither the mlflow package (seconds to import, ~150 MB) nor its
        retry policy.
        """
        if not self.tracking_uri.startswith(("http://", "https://")):
            return None
        if self._http is None:
            self._http = rest_client(
                self.tracking_uri.rstrip("/") + "/api/2.0/mlflow/",
                float(self._http_timeout),
                self._http_retries,
                self.credentials,
            )
        return self._http

    def _rest_get(self, what: str, path: str, params: dict[str, str]) -> dict[str, Any]:
        """GET one REST endpoint; not-found is ModelNotFoundError, outages are unavailable."""
        return self._rest_call("GET", what, path, params)

    def _rest_call(
        self, method: str, what: str, path: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """One REST call (``params`` in the query of a GET, as the JSON body of a POST)."""
        import httpx

        client = self._rest
        assert client is not None
        try:
            if method == "GET":
                response = client.get(path, params=params)
            else:
                response = client.request(method, path, json=params)
        except httpx.HTTPError as exc:
            raise RegistryUnavailableError(
                f"MLflow at {masked_url(self.tracking_uri)} is unreachable ({what}: {exc})"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("error_code", ""))
        if response.status_code in REFUSED:
            raise access_refused(self.tracking_uri, response.status_code, what, self.credentials)
        if response.status_code == 404 or code in _NOT_FOUND_CODES:
            ref = params.get("alias") or params.get("version", "")
            raise ModelNotFoundError(self.name, ref, body.get("message"))
        if response.status_code >= 500:
            # a server that is starting or overloaded: callers retry, as for an outage
            where = masked_url(self.tracking_uri)
            raise RegistryUnavailableError(
                f"MLflow at {where} answered {response.status_code} ({what})"
            )
        if response.status_code >= 400:
            message = body.get("message") or response.text[:200]
            raise RegistryError(f"{what} for {self.name}: {message}")
        return body

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RegistryError:
            raise
        except Exception as exc:
            status = refused_status(exc)
            if status is not None:
                raise access_refused(self.tracking_uri, status, what, self.credentials) from exc
            if _is_unreachable(exc):
                raise RegistryUnavailableError(
                    f"MLflow at {masked_url(self.tracking_uri)} is unreachable ({what})"
                ) from exc
            raise

    # --- reading ---------------------------------------------------------------------------
    def resolve(self, ref: str) -> VersionInfo:
        """Find the version a reference names: a version number or an alias."""
        ref = ref.strip()
        if not ref:
            raise ModelNotFoundError(self.name, ref, "empty reference")
        if self._rest is not None:
            if ref.isdigit():
                body = self._rest_get(
                    "get version", "model-versions/get", {"name": self.name, "version": ref}
                )
            else:
                body = self._rest_get(
                    "get alias", "registered-models/alias", {"name": self.name, "alias": ref}
                )
            mv = body.get("model_version")
            if not isinstance(mv, dict):
                raise RegistryError(f"resolving {self.name}@{ref}: no model_version in the answer")
            return VersionInfo.from_rest(mv)
        try:
            if ref.isdigit():
                mv = self._call("get version", self.client.get_model_version, self.name, ref)
            else:
                mv = self._call("get alias", self.client.get_model_version_by_alias, self.name, ref)
        except RegistryError:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                raise ModelNotFoundError(self.name, ref) from exc
            raise RegistryError(f"resolving {self.name}@{ref}: {exc}") from exc
        return VersionInfo.from_mlflow(mv)

    def names_with_alias(self, alias: str = CHAMPION) -> list[str]:
        """Every registered model of this MLflow that has ``alias``, by name."""
        if self._rest is not None:
            body = self._rest_get(
                "search models", "registered-models/search", {"max_results": "1000"}
            )
            return sorted(
                str(rm.get("name"))
                for rm in body.get("registered_models", [])
                if any(a.get("alias") == alias for a in rm.get("aliases", []))
            )
        try:
            found = self._call(
                "search models", self.client.search_registered_models, max_results=1000
            )
        except RegistryError:
            raise
        except Exception as exc:
            raise RegistryError(f"listing registered models: {exc}") from exc
        return sorted(rm.name for rm in found if alias in (rm.aliases or {}))

    def find(self, ref: str) -> VersionInfo | None:
        """Like :meth:`resolve`, but None when nothing matches."""
        try:
            return self.resolve(ref)
        except ModelNotFoundError:
            return None

    def champion(self) -> VersionInfo | None:
        return self.find(CHAMPION)

    def versions(self) -> list[VersionInfo]:
        """All versions of the model, newest first (empty when it is not registered)."""
        try:
            found = self._call(
                "search versions",
                self.client.search_model_versions,
                f"name = '{self.name}'",
                max_results=1000,
            )
        except RegistryError:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                return []
            raise RegistryError(f"listing versions of {self.name}: {exc}") from exc
        # search results may omit aliases on some stores: fetch each version fully.
        infos = [VersionInfo.from_mlflow(mv) for mv in found]
        aliases = self.aliases()
        infos = [
            VersionInfo(
                name=i.name,
                version=i.version,
                run_id=i.run_id,
                aliases=tuple(sorted(a for a, v in aliases.items() if v == i.version)),
                created_at=i.created_at,
                tags=i.tags,
                source=i.source,
            )
            for i in infos
        ]
        return sorted(infos, key=lambda i: int(i.version), reverse=True)

    def aliases(self) -> dict[str, str]:
        """Alias → version of the registered model (empty when it is not registered)."""
        rm = self._registered_model()
        if rm is None:
            return {}
        return {alias: str(version) for alias, version in (rm.aliases or {}).items()}

    def history(self) -> list[str]:
        """Versions that held ``champion`` before the current one, oldest first."""
        rm = self._registered_model()
        if rm is None:
            return []
        raw = (rm.tags or {}).get(HISTORY_TAG)
        try:
            parsed = json.loads(raw) if raw else []
        except json.JSONDecodeError:
            return []
        return [str(v) for v in parsed] if isinstance(parsed, list) else []

    def model_tag(self, key: str) -> str | None:
        """The registered model's tag ``key`` (None when unset or the model is not registered)."""
        if self._rest is not None:
            try:
                body = self._rest_get("get model", "registered-models/get", {"name": self.name})
            except ModelNotFoundError:
                return None
            model = body.get("registered_model")
            tags = model.get("tags", []) if isinstance(model, dict) else []
            return next(
                (str(t.get("value")) for t in tags if isinstance(t, dict) and t.get("key") == key),
                None,
            )
        rm = self._registered_model()
        if rm is None:
            return None
        return (rm.tags or {}).get(key)

    def _registered_model(self) -> Any:
        """The registered model as MLflow's client reads it; None when it is not registered."""
        try:
            return self._call("get model", self.client.get_registered_model, self.name)
        except RegistryError:
            raise
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise RegistryError(f"reading {self.name}: {exc}") from exc

    # --- writing ---------------------------------------------------------------------------
    def set_model_tag(self, key: str, value: str) -> None:
        """Tag the registered model (over REST where MLflow is a server: no mlflow import)."""
        if self._rest is not None:
            self._rest_call(
                "POST",
                "tag model",
                "registered-models/set-tag",
                {"name": self.name, "key": key, "value": value},
            )
            return
        self._call("tag model", self.client.set_registered_model_tag, self.name, key, value)

    def set_alias(self, alias: str, version: str) -> VersionInfo:
        info = self.resolve(str(version))
        self._call(
            "set alias", self.client.set_registered_model_alias, self.name, alias, info.version
        )
        log.info("alias %s@%s -> version %s", self.name, alias, info.version)
        return self.resolve(info.version)

    def set_version_tag(self, version: str, key: str, value: str) -> None:
        self._call("tag version", self.client.set_model_version_tag, self.name, version, key, value)

    def promote(self, version: str, *, record_history: bool = True) -> VersionInfo:
        """Move ``champion`` to ``version``; remember the previous holder for rollback."""
        target = self.resolve(str(version))
        current = self.champion()
        if current is not None and current.version == target.version:
            return current
        if record_history and current is not None:
            self._write_history([*self.history(), current.version])
        self._call(
            "tag version",
            self.client.set_model_version_tag,
            self.name,
            target.version,
            PROMOTED_AT_TAG,
            f"{time.time():.3f}",
        )
        return self.set_alias(CHAMPION, target.version)

    def rollback(self) -> VersionInfo:
        """Give ``champion`` back to the version that held it before the current one."""
        history = self.history()
        current = self.champion()
        while history:
            previous = history.pop()
            if current is not None and previous == current.version:
                continue
            if self.find(previous) is None:
                continue
            self._write_history(history)
            return self.promote(previous, record_history=False)
        raise RegistryError(f"model {self.name!r} has no earlier champion to roll back to")

    def _write_history(self, versions: list[str]) -> None:
        self._call(
            "tag model",
            self.client.set_registered_model_tag,
            self.name,
            HISTORY_TAG,
            json.dumps(versions[-50:]),
        )
