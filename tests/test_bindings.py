"""Model references: every form `mlflow models serve -m` takes, parsed into bindings."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.bindings import Binding, Source, parse_binding, parse_bindings
from modelyard.config import Settings
from modelyard.errors import ModelLoadError
from modelyard.inference.sources import FixedSource, cache_folder, label
from modelyard.registry import VersionInfo
from modelyard.serving.cli import folder_named

RUN = "0123456789abcdef0123456789abcdef"
LOGGED = "m-" + "f" * 32


@pytest.mark.parametrize(
    ("text", "binding", "source"),
    [
        ("champion", Binding("iris", "champion"), None),
        ("3", Binding("iris", "3"), None),
        ("wine@2", Binding("wine", "2"), None),
        ("models:/wine/2", Binding("wine", "2"), None),
        ("models:/wine@champion", Binding("wine", "champion"), None),
        ("wine@models:/wine@champion", Binding("wine", "champion"), None),
        (f"runs:/{RUN}/model", Binding("iris", f"runs:/{RUN}/model"), "run"),
        (f"xgb@runs:/{RUN}/model", Binding("xgb", f"runs:/{RUN}/model"), "run"),
        (RUN, Binding("iris", f"runs:/{RUN}"), "run"),
        (LOGGED, Binding("iris", f"models:/{LOGGED}"), "logged_model"),
        (f"m@models:/{LOGGED}", Binding("m", f"models:/{LOGGED}"), "logged_model"),
        ("/srv/models/churn", Binding("iris", "/srv/models/churn"), "folder"),
        ("churn@file:///srv/models/churn", Binding("churn", "/srv/models/churn"), "folder"),
    ],
)
def test_every_reference_form(text: str, binding: Binding, source: str | None) -> None:
    parsed = parse_binding(text, "iris")
    assert parsed == binding
    assert (parsed.source.kind if parsed.source else None) == source
    assert parse_binding(str(parsed), "other") == parsed  # a binding's text reads back


def test_relative_folders_are_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_binding("./model", "iris") == Binding("iris", str(tmp_path / "model"))
    assert parse_binding("x@../up", "iris") == Binding("x", str(tmp_path.parent / "up"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("wine@models:/iris/3", "names two models"),
        ("models:/iris", "models:/NAME/VERSION"),
        ("runs:/abc/model", "is not a model URI"),
        ("iris@bad ref", "no valid reference"),
        ("file://elsewhere/srv/model", "on this machine"),
        ("@champion", "does not name a model"),
    ],
)
def test_malformed_references_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_binding(text, "iris")


def test_lists_keep_order_and_drop_repeats() -> None:
    assert parse_bindings(f"iris@champion, models:/iris@champion,wine@{RUN}", "x") == (
        Binding("iris", "champion"),
        Binding("wine", f"runs:/{RUN}"),
    )


def test_labels_tell_sources_apart(tmp_path: Path) -> None:
    assert label(Source("run", f"runs:/{RUN}")) == f"run-{RUN}"
    assert label(Source("run", f"runs:/{RUN}/sub/model")) == f"run-{RUN}-sub-model"
    long_path = label(Source("run", f"runs:/{RUN}/" + "deep/" * 10 + "model"))
    assert long_path.startswith(f"run-{RUN}-") and len(long_path) <= 50
    assert label(Source("logged_model", f"models:/{LOGGED}")) == LOGGED
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    first = label(Source("folder", str(folder)))
    assert first.startswith("sha-")
    (folder / "model.pkl").write_bytes(b"weights")
    assert label(Source("folder", str(folder))) != first  # the folder changed


def test_a_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        FixedSource("x", Source("folder", str(tmp_path / "absent")), "").resolve()
    with pytest.raises(ModelLoadError, match="has no MLmodel file"):
        FixedSource("x", Source("folder", str(tmp_path)), "").resolve()


def test_a_fixed_source_resolves_once_and_for_good(tmp_path: Path) -> None:
    source = FixedSource("churn", Source("run", f"runs:/{RUN}/model"), "http://unused")
    info = source.resolve("anything")
    assert (info.name, info.version, info.run_id) == ("churn", f"run-{RUN}-model", RUN)
    assert (info.resolved, info.fixed) == (f"runs:/{RUN}/model", True)
    assert source.resolve("again") is info
    assert cache_folder(tmp_path, info) == tmp_path / "_sources" / info.version
    registered = VersionInfo("iris", "3", None, (), 0.0)
    assert (registered.resolved, registered.fixed) == ("models:/iris/3", False)
    assert cache_folder(tmp_path, registered) == tmp_path / "iris" / "3"


def test_bound_endpoints_follow_a_fixed_model_unless_set() -> None:
    fixed = Settings(_env_file=None, model_ref="/srv/churn")  # type: ignore[call-arg]
    assert set(fixed.endpoint_bindings.values()) == {Binding("iris", "/srv/churn")}
    own = Settings(_env_file=None, model_ref="/srv/churn", v1_model="2")  # type: ignore[call-arg]
    assert own.endpoint_bindings["/v1/predict"] == Binding("iris", "2")
    registered = Settings(_env_file=None)  # type: ignore[call-arg]
    assert registered.endpoint_bindings["/v1/predict"] == Binding("iris", "1")


def test_serve_names_an_unnamed_folder_after_itself() -> None:
    def named(text: str, **values: str) -> Binding:
        settings = Settings(_env_file=None, model_ref=text, **values)  # type: ignore[call-arg]
        return folder_named(text, settings)

    assert named("/srv/models/churn v2") == Binding("churn-v2", "/srv/models/churn v2")
    assert named("x@/srv/churn") == Binding("x", "/srv/churn")
    assert named("/srv/churn", model_name="c") == Binding("c", "/srv/churn")
    assert named("champion") == Binding("iris", "champion")


def test_serve_refuses_a_malformed_model_in_one_line() -> None:
    from typer.testing import CliRunner

    from modelyard.cli import app

    result = CliRunner().invoke(app, ["serve", "--model", "runs:/abc"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        "error: --model: 'runs:/abc' is not a model URI: use runs:/RUN_ID/PATH (a 32-digit hex "
        "run id), models:/NAME/VERSION, models:/NAME@ALIAS or models:/m-ID"
    ]
