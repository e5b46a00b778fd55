"""What the "Try it" page asks the prediction API: its image models, and their top-k.

``GET {api}/`` lists the served models; ``POST {api}/models/{name}/versions/{ref}/predict``
with ``{"image_data": <base64>, "top_k": k}`` answers one version's top-k classes. Every
failure (the API down or slow, a refused image, an answer of the wrong shape) becomes a
:class:`TryError` whose message the page shows as it is.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

IMAGE_KIND = "image"
TOP_K = 5
LIST_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
# A version the API has not loaded yet loads on the first request that names it.
PREDICT_TIMEOUT = httpx.Timeout(60.0, connect=2.0)


class TryError(Exception):
    """A sentence for the page: why there is no answer to show."""


@dataclass(frozen=True)
class ServedModel:
    """An image model the API serves: its name, the versions loaded and their aliases."""

    name: str
    classes: tuple[str, ...]
    versions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # version → aliases


@dataclass(frozen=True)
class Ranked:
    label: str
    probability: float


@dataclass(frozen=True)
class TopK:
    """One version's answer: its classes ranked highest first, who answered, and how fast."""

    ranked: tuple[Ranked, ...]
    name: str
    version: str
    ref: str
    latency_ms: float


def image_models(info: Any) -> list[ServedModel]:
    """The image models of a ``GET /`` answer, by name (loaded versions merged per name)."""
    entries: list[Any] = []
    if isinstance(info, dict):
        if isinstance(info.get("models"), list):
            entries += info["models"]
        if isinstance(info.get("served"), dict):
            entries += list(info["served"].values())
    names: dict[str, tuple[list[str], dict[str, set[str]]]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("input_kind") != IMAGE_KIND:
            continue
        name = str(entry.get("name") or "")
        if not name:
            continue
        classes, versions = names.setdefault(name, ([], {}))
        if not classes:
            classes.extend(str(c) for c in entry.get("classes") or ())
        version = entry.get("version")
        if version is not None:
            versions.setdefault(str(version), set()).update(
                str(a) for a in entry.get("aliases") or ()
            )
    return [
        ServedModel(
            name=name,
            classes=tuple(classes),
            versions={v: tuple(sorted(versions[v])) for v in sorted(versions, key=_version_order)},
        )
        for name, (classes, versions) in sorted(names.items())
    ]


def list_image_models(http: httpx.Client, api: str) -> list[ServedModel]:
    """The image models the API at ``api`` serves now; :class:`TryError` if it cannot say."""
    try:
        response = http.get(f"{api}/", timeout=LIST_TIMEOUT)
    except httpx.TimeoutException:
        raise TryError(f"The prediction API at {api} did not answer in time.") from None
    except httpx.HTTPError:
        raise TryError(
            f"The prediction API is not answering at {api}: start it with `modelyard serve` "
            "(or `modelyard up`), then press Reload."
        ) from None
    if response.status_code != 200:
        raise TryError(refusal(response, f"The prediction API at {api} answered"))
    try:
        info = response.json()
    except ValueError:
        raise TryError(f"The prediction API at {api} answered something other than JSON.") from None
    return image_models(info)


def predict(
    http: httpx.Client, api: str, name: str, ref: str, image: bytes, *, top_k: int = TOP_K
) -> TopK:
    """Ask version ``ref`` of ``name`` for the top-k classes of ``image`` (encoded bytes)."""
    url = f"{api}/models/{quote(name, safe='')}/versions/{quote(ref, safe='')}/predict"
    body = {"image_data": base64.b64encode(image).decode("ascii"), "top_k": top_k}
    started = time.perf_counter()
    try:
        response = http.post(url, json=body, timeout=PREDICT_TIMEOUT)
    except httpx.TimeoutException:
        raise TryError(
            f"{name} {_ref_text(ref)} did not answer within {PREDICT_TIMEOUT.read:g} s."
        ) from None
    except httpx.HTTPError:
        raise TryError(
            f"The prediction API is not answering at {api}: start it with `modelyard serve`."
        ) from None
    latency_ms = (time.perf_counter() - started) * 1000.0
    if response.status_code != 200:
        raise TryError(refusal(response, f"{name} {_ref_text(ref)}: the API answered"))
    try:
        return parse_answer(response.json(), name, ref, latency_ms)
    except ValueError as exc:
        raise TryError(f"{name} {_ref_text(ref)}: the API's answer is not a top-k: {exc}") from None


def parse_answer(answer: Any, name: str, ref: str, latency_ms: float) -> TopK:
    """A predict answer as a :class:`TopK`; ``ValueError`` says what is wrong with it."""
    if not isinstance(answer, dict) or not isinstance(answer.get("top_k"), list):
        raise ValueError("no top_k list")
    ranked = []
    for item in answer["top_k"]:
        if not isinstance(item, dict) or "label" not in item or "probability" not in item:
            raise ValueError("each top_k entry needs a label and a probability")
        probability = item["probability"]
        if isinstance(probability, bool) or not isinstance(probability, int | float):
            raise ValueError(f"probability {probability!r} is not a number")
        ranked.append(Ranked(label=str(item["label"]), probability=float(probability)))
    model = answer.get("model")
    if not isinstance(model, dict):
        model = {}
    return TopK(
        ranked=tuple(ranked),
        name=str(model.get("name") or name),
        version=str(model.get("version") or "?"),
        ref=str(model.get("ref") or ref),
        latency_ms=latency_ms,
    )


def refusal(response: httpx.Response, prefix: str) -> str:
    """``prefix`` and the API's own error (``{"error": {"code", "message", "field"}}``)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        where = f", field {error['field']}" if error.get("field") else ""
        code = error.get("code") or response.status_code
        return f"{prefix} {response.status_code}: {error['message']} ({code}{where})."
    text = " ".join(response.text.split())[:200] or response.reason_phrase
    return f"{prefix} {response.status_code}: {text}"


def _ref_text(ref: str) -> str:
    return f"version {ref}" if ref.isdigit() else f"@{ref}"


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 30, version)


def version_options(
    model: ServedModel, registered: Sequence[str] = (), aliases: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """Dropdown options: the aliases first (``champion → v2``), then every version.

    ``registered`` and ``aliases`` come from the registry when it answers; the versions and
    aliases the API has loaded are always included.
    """
    alias_of: dict[str, str] = dict(aliases or {})
    for version, names in model.versions.items():
        for alias in names:
            alias_of.setdefault(alias, version)
    versions = {*registered, *model.versions}
    by_version: dict[str, list[str]] = {}
    for alias, version in alias_of.items():
        by_version.setdefault(version, []).append(alias)
    options = [
        {"label": f"{alias} → v{version}", "value": alias}
        for alias, version in sorted(alias_of.items())
    ]
    for version in sorted(versions, key=_version_order):
        extra = by_version.get(version)
        label = f"v{version}" + (f" ({', '.join(sorted(extra))})" if extra else "")
        options.append({"label": label, "value": version})
    return options


def default_refs(options: Sequence[Mapping[str, str]]) -> tuple[str | None, str | None]:
    """Version 1 on the left ("v1") and ``champion`` on the right ("v2"), where offered."""
    values = [o["value"] for o in options]
    versions = [v for v in values if v.isdigit()]
    left = "1" if "1" in values else (versions[0] if versions else None)
    right = "champion" if "champion" in values else (versions[-1] if versions else None)
    return left, right
