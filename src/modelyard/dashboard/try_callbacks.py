"""Callbacks of the "Try it" page: the served image models, the image, both versions' answers.

Nothing here raises into the page: the API down, a refused image or a registry that does
not answer each becomes a sentence in the slot it concerns.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dash import Dash, Input, Output, State, ctx, no_update

from modelyard.dashboard import figures, ids, views
from modelyard.dashboard.samples import list_samples, read_sample
from modelyard.dashboard.state import DashboardState, require_mlflow
from modelyard.dashboard.try_api import (
    ServedModel,
    TopK,
    TryError,
    default_refs,
    list_image_models,
    predict,
    version_options,
)
from modelyard.dashboard.try_view import (
    CHART_HEIGHT,
    NO_MODEL_HINT,
    answer_caption,
    data_uri,
    thumbnail,
    top_k_figure,
)
from modelyard.dashboard.wiring import callback
from modelyard.errors import ModelyardError
from modelyard.registry import Registry

log = logging.getLogger(__name__)

SHOWN: dict[str, str] = {}  # the class decides (a grid, a block)
HIDDEN = {"display": "none"}


def register_try(app: Dash, state: DashboardState) -> None:
    register_pages(app)
    register_models(app, state)
    register_samples(app, state)
    register_versions(app, state)
    register_image(app, state)
    register_answers(app, state)


def on_try_page(pathname: str | None) -> bool:
    return (pathname or "/").rstrip("/").endswith(ids.TRY_PATH)


def register_pages(app: Dash) -> None:
    """Show the page the address names; the overview's panels stop reloading while hidden."""
    timers = [Output(ids.timer(panel), "disabled") for panel in ids.TIMED_PANELS]

    @callback(
        app,
        Output(ids.OVERVIEW_PAGE, "style"),
        Output(ids.TRY_PAGE, "style"),
        Output(ids.NAV_OVERVIEW, "className"),
        Output(ids.NAV_TRY, "className"),
        *timers,
        Input(ids.URL, "pathname"),
    )
    def _page(pathname: str | None) -> tuple[Any, ...]:
        trying = on_try_page(pathname)
        paused = (trying,) * len(timers)
        if trying:
            return (HIDDEN, SHOWN, "nav-link", "nav-link active", *paused)
        return (SHOWN, HIDDEN, "nav-link active", "nav-link", *paused)


def register_models(app: Dash, state: DashboardState) -> None:
    api = state.settings.api_base_url

    @callback(
        app,
        Output(ids.TRY_MODEL, "options"),
        Output(ids.TRY_MODEL, "value"),
        Output(ids.TRY_MESSAGE, "children"),
        Output(ids.TRY_MODELS_STORE, "data"),
        Input(ids.URL, "pathname"),
        Input(ids.TRY_RELOAD, "n_clicks"),
        State(ids.TRY_MODEL, "value"),
    )
    def _models(pathname: str | None, _clicks: int | None, chosen: str | None) -> tuple[Any, ...]:
        if not on_try_page(pathname):
            return (no_update, no_update, no_update, no_update)
        try:
            models = list_image_models(state.http, api)
        except TryError as exc:
            return ([], None, views.notice(str(exc), "error"), {})
        if not models:
            return ([], None, views.notice(NO_MODEL_HINT, "warn"), {})
        names = [m.name for m in models]
        value = chosen if chosen in names else names[0]
        options = [{"label": m.name, "value": m.name} for m in models]
        store = {m.name: {"classes": list(m.classes), "versions": m.versions} for m in models}
        return (options, value, None, store)


def register_samples(app: Dash, state: DashboardState) -> None:
    root = state.settings.image_samples

    @callback(
        app,
        Output(ids.TRY_SAMPLE, "options"),
        Output(ids.TRY_SAMPLE, "style"),
        Output(ids.TRY_SAMPLES_NOTE, "children"),
        Input(ids.URL, "pathname"),
        Input(ids.TRY_RELOAD, "n_clicks"),
    )
    def _samples(pathname: str | None, _clicks: int | None) -> tuple[Any, ...]:
        if not on_try_page(pathname):
            return (no_update, no_update, no_update)
        try:
            samples = list_samples(root)
        except OSError as exc:
            text = f"The sample images in {root} cannot be read: {exc}"
            return ([], HIDDEN, views.notice(text, "warn"))
        if not samples:
            text = (
                f"No sample images in {root}: `modelyard demo images {root}` writes some "
                "(or set MODELYARD_IMAGE_SAMPLES_DIR to a folder of <class>/<file>.png)."
            )
            return ([], HIDDEN, views.notice(text))
        options = [{"label": s.title, "value": s.name} for s in samples]
        return (options, SHOWN, None)


class RegisteredVersions:
    """Each image model's registered versions and aliases, read from MLflow when it answers."""

    def __init__(self, state: DashboardState) -> None:
        self._state = state
        self._registries: dict[str, Registry] = {}
        self._lock = threading.Lock()

    def _registry(self, name: str) -> Registry:
        if name == self._state.registry.name:
            return self._state.registry
        with self._lock:
            registry = self._registries.get(name)
            if registry is None:
                registry = Registry.from_settings(self._state.settings, name)
                self._registries[name] = registry
            return registry

    def read(self, name: str) -> tuple[list[str], dict[str, str]]:
        """Versions and aliases of ``name``; none (the API's own list then) when MLflow fails."""
        try:
            require_mlflow(self._state)
            registry = self._registry(name)
            return [v.version for v in registry.versions()], registry.aliases()
        except ModelyardError as exc:
            log.info("listing the versions of %s from the API only: %s", name, exc)
            return [], {}


def register_versions(app: Dash, state: DashboardState) -> None:
    registered = RegisteredVersions(state)
    outputs = [
        Output(ids.try_side(side, prop), prop_name)
        for side in ids.TRY_SIDES
        for prop, prop_name in (("version", "options"), ("version", "value"))
    ]

    @callback(
        app,
        *outputs,
        Input(ids.TRY_MODEL, "value"),
        State(ids.TRY_MODELS_STORE, "data"),
        *(State(ids.try_side(side, "version"), "value") for side in ids.TRY_SIDES),
    )
    def _versions(
        name: str | None, served: dict[str, Any] | None, *chosen: str | None
    ) -> tuple[Any, ...]:
        entry = (served or {}).get(name or "")
        if not name or entry is None:
            return ([], None, [], None)
        model = ServedModel(
            name=name,
            classes=tuple(entry.get("classes") or ()),
            versions={v: tuple(a) for v, a in (entry.get("versions") or {}).items()},
        )
        versions, aliases = registered.read(name)
        options = version_options(model, versions, aliases)
        offered = {o["value"] for o in options}
        # a reload keeps the versions chosen while they are offered; otherwise the defaults
        left, right = (
            ref if ref in offered else default
            for ref, default in zip(chosen, default_refs(options), strict=True)
        )
        return (options, left, options, right)


def decode_upload(contents: str) -> tuple[bytes, str]:
    """The bytes and media type of a ``dcc.Upload`` data URI (ValueError if it is not one)."""
    header, sep, payload = contents.partition(",")
    if not sep or not header.startswith("data:"):
        raise ValueError("the upload is not a data URI")
    mime = header.removeprefix("data:").split(";")[0] or "application/octet-stream"
    try:
        return base64.b64decode(payload, validate=True), mime
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the upload is not base64: {exc}") from exc


def register_image(app: Dash, state: DashboardState) -> None:
    root = state.settings.image_samples

    @callback(
        app,
        Output(ids.TRY_IMAGE_STORE, "data"),
        Output(ids.TRY_IMAGE, "children"),
        Output(ids.TRY_SAMPLE, "value"),
        Input(ids.TRY_UPLOAD, "contents"),
        Input(ids.TRY_SAMPLE, "value"),
        State(ids.TRY_UPLOAD, "filename"),
        prevent_initial_call=True,
    )
    def _image(contents: str | None, sample: str | None, filename: str | None) -> tuple[Any, ...]:
        if ctx.triggered_id == ids.TRY_SAMPLE:
            if not sample:
                return (no_update, no_update, no_update)
            try:
                found, data = read_sample(root, sample)
            except (LookupError, OSError) as exc:
                return (None, views.notice(f"Cannot read that sample: {exc}", "error"), no_update)
            caption = f"sample {found.name} (class {found.label})"
            store = _stored(data, found.mime, caption)
            return (store, thumbnail(data_uri(data, found.mime), caption), no_update)
        if not contents:
            return (no_update, no_update, no_update)
        # an upload replaces the sample: the dropdown no longer names the image shown
        name = filename or "upload"
        try:
            data, mime = decode_upload(contents)
        except ValueError as exc:
            return (None, views.notice(f"Cannot read {name}: {exc}", "error"), None)
        src = data_uri(data, mime) if mime.startswith("image/") else None
        caption = f"{name} ({len(data):,} bytes)"
        return (_stored(data, mime, caption), thumbnail(src, caption), None)


def _stored(data: bytes, mime: str, caption: str) -> dict[str, str]:
    return {"data": base64.b64encode(data).decode("ascii"), "mime": mime, "caption": caption}


def register_answers(app: Dash, state: DashboardState) -> None:
    api = state.settings.api_base_url
    outputs = [
        Output(ids.try_side(side, part), prop)
        for side in ids.TRY_SIDES
        for part, prop in (
            ("chart", "figure"),
            ("answer-holder", "children"),
            ("message", "children"),
        )
    ]

    @callback(
        app,
        *outputs,
        Input(ids.TRY_IMAGE_STORE, "data"),
        Input(ids.TRY_MODEL, "value"),
        *(Input(ids.try_side(side, "version"), "value") for side in ids.TRY_SIDES),
    )
    def _answers(
        image: dict[str, str] | None, name: str | None, left: str | None, right: str | None
    ) -> tuple[Any, ...]:
        if not image:
            return _waiting("Upload an image or pick a sample")
        if not name:
            return _waiting("Choose an image model")
        try:
            data = base64.b64decode(image["data"], validate=True)
        except (KeyError, TypeError, binascii.Error, ValueError):
            return _waiting("The image could not be read: upload it again")
        refs = dict(zip(ids.TRY_SIDES, (left, right), strict=True))
        with ThreadPoolExecutor(max_workers=len(refs), thread_name_prefix="try") as pool:
            futures = {
                side: pool.submit(_ask, state, api, name, ref, data) if ref else None
                for side, ref in refs.items()
            }
            results = {side: f.result() if f else None for side, f in futures.items()}
        out: list[Any] = []
        for side in ids.TRY_SIDES:
            out.extend(_side_output(side, results[side]))
        return tuple(out)


def _ask(state: DashboardState, api: str, name: str, ref: str, data: bytes) -> TopK | str:
    try:
        return predict(state.http, api, name, ref, data)
    except TryError as exc:
        return str(exc)
    except Exception as exc:  # the page shows a sentence, never a traceback
        log.exception("asking %s@%s failed", name, ref)
        return f"{name} @{ref}: the request failed ({type(exc).__name__}: {exc})."


def _side_output(side: str, result: TopK | str | None) -> tuple[Any, Any, Any]:
    if result is None:
        return (figures.empty("Choose a version", CHART_HEIGHT), None, None)
    if isinstance(result, str):
        message = views.notice(result, "error", element_id=ids.try_side(side, "error"))
        return (figures.empty("No answer", CHART_HEIGHT), None, message)
    return (top_k_figure(result), answer_caption(result, side), None)


def _waiting(text: str) -> tuple[Any, ...]:
    empty: list[Any] = []
    for _ in ids.TRY_SIDES:
        empty += [figures.empty(text, CHART_HEIGHT), None, None]
    return tuple(empty)
