from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from modelyard.config import Settings, get_settings
from modelyard.errors import SettingsError

MLFLOW_LOGIN = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def make(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in list(__import__("os").environ):
        if key.startswith("MODELYARD_") or key in MLFLOW_LOGIN:
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_defaults_work_on_a_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    s = make(monkeypatch)
    assert s.home == Path(".modelyard")
    assert s.model_name == "iris"
    assert (s.api_port, s.mlflow_port, s.ui_port, s.viz_port, s.worker_metrics_port) == (
        8000,
        5000,
        8050,
        4141,
        9101,
    )
    assert s.host == "127.0.0.1"
    assert s.tracking_uri == "http://127.0.0.1:5000"
    assert s.backend_store_uri.startswith("sqlite:///") and s.backend_store_uri.endswith(
        ".modelyard/mlflow.db"
    )
    assert s.db_url.endswith(".modelyard/modelyard.db")
    assert (s.model_ref, s.v1_model, s.v2_model) == ("champion", "1", "champion")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = make(
        monkeypatch,
        MODELYARD_HOME=str(tmp_path),
        MLFLOW_TRACKING_URI="http://mlflow:5000",
        MODELYARD_DATABASE_URL="postgresql://u:p@db/predictions",
        MODELYARD_HOST="0.0.0.0",
        MODELYARD_API_PORT="9000",
        MODELYARD_ADMIN_KEY="s3cret",
    )
    assert s.tracking_uri == "http://mlflow:5000"
    assert s.db_url == "postgresql://u:p@db/predictions"
    assert s.client_host == "127.0.0.1"
    assert s.api_base_url == "http://127.0.0.1:9000"
    assert s.admin_key_value == "s3cret"
    assert "s3cret" not in repr(s)
    assert s.backend_store_uri == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_env_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    make(monkeypatch)
    env_file = tmp_path / ".env"
    env_file.write_text("MODELYARD_MODEL_NAME=wine\nMODELYARD_UI_PORT=8123\n")
    s = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert (s.model_name, s.ui_port) == ("wine", 8123)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("MODELYARD_API_PORT", "99999"),
        ("MODELYARD_API_PORT", "web"),
        ("MODELYARD_LOG_LEVEL", "LOUD"),
        ("MODELYARD_RATE_LIMIT", "lots"),
        ("MODELYARD_API_KEY_HASHES", "sha256:abc"),
        ("MODELYARD_ADMIN_KEY_HASHES", "md5:" + "0" * 64),
        ("MODELYARD_MAX_CONCURRENCY", "-1"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        make(monkeypatch, **{key: value})
    assert key.removeprefix("MODELYARD_").lower() in str(excinfo.value)


PASSWORD = "correct-horse-battery"


def test_the_mlflow_login_is_read_under_mlflows_own_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert make(monkeypatch).mlflow_credentials is None
    make(monkeypatch)
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"MLFLOW_TRACKING_USERNAME=ops\nMLFLOW_TRACKING_PASSWORD={PASSWORD}\n"
        "MODELYARD_MLFLOW_AUTH=true\n"
    )
    s = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert s.mlflow_auth
    login = s.mlflow_credentials
    assert login is not None and login.basic == ("ops", PASSWORD)
    assert login.env() == {"MLFLOW_TRACKING_USERNAME": "ops", "MLFLOW_TRACKING_PASSWORD": PASSWORD}
    assert PASSWORD not in repr(s) and PASSWORD not in repr(login)
    assert s.mlflow_auth_db_uri == f"sqlite:///{Path('.modelyard').resolve()}/mlflow-auth.db"


def test_blank_login_values_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    s = make(monkeypatch, MLFLOW_TRACKING_USERNAME="", MLFLOW_TRACKING_PASSWORD=" ")
    assert s.mlflow_credentials is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"MLFLOW_TRACKING_USERNAME": "ops"},
            "MLFLOW_TRACKING_USERNAME is set but MLFLOW_TRACKING_PASSWORD is not",
        ),
        (
            {"MLFLOW_TRACKING_PASSWORD": PASSWORD},
            "MLFLOW_TRACKING_PASSWORD is set but MLFLOW_TRACKING_USERNAME is not",
        ),
        (
            {"MLFLOW_TRACKING_USERNAME": "o:ps", "MLFLOW_TRACKING_PASSWORD": PASSWORD},
            "MLFLOW_TRACKING_USERNAME: no colon or line break",
        ),
        (
            {"MODELYARD_MLFLOW_AUTH": "true"},
            "MODELYARD_MLFLOW_AUTH is on: set MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD",
        ),
        (
            {
                "MODELYARD_MLFLOW_AUTH": "true",
                "MLFLOW_TRACKING_USERNAME": "ops",
                "MLFLOW_TRACKING_PASSWORD": "short-one",
            },
            "MLFLOW_TRACKING_PASSWORD: MLflow's admin password needs at least 12 characters",
        ),
    ],
)
def test_an_incomplete_mlflow_login_is_refused_in_one_line_without_its_values(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    make(monkeypatch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as refused:
        get_settings(_env_file=None)
    # one line, the rule's words only: none of the values read is echoed
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    assert "got" not in str(refused.value)
    assert "short-one" not in str(refused.value) and PASSWORD not in str(refused.value)


def test_a_login_for_a_server_run_elsewhere_needs_no_auth_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # MLflow's own rule (12 characters) binds only the admin `modelyard mlflow` creates
    s = make(monkeypatch, MLFLOW_TRACKING_USERNAME="ops", MLFLOW_TRACKING_PASSWORD="short")
    assert not s.mlflow_auth and s.mlflow_credentials is not None
