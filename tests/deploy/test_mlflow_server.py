from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

from modelyard.config import Settings
from modelyard.deploy.mlflow_server import (
    auth_config_path,
    metrics_dir,
    mlflow_server_argv,
    mlflow_server_env,
    prepare_local_stores,
    reset_metrics_dir,
    write_auth_config,
)
from support import modelyard_argv, service_env

PASSWORD = "admin-pass-%-1234"


def test_argv_serves_artifacts_over_http(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path, mlflow_port=5123)  # type: ignore[call-arg]
    argv = mlflow_server_argv(settings)
    assert argv[1] == "server"
    opts = {flag: argv[i + 1] for i, flag in enumerate(argv[:-1]) if flag.startswith("--")}
    assert "--backend-store-uri" not in opts
    env = mlflow_server_env({}, settings)
    assert env["MLFLOW_BACKEND_STORE_URI"] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert opts["--artifacts-destination"] == str(tmp_path.resolve() / "mlartifacts")
    assert opts["--port"] == "5123" and opts["--host"] == "127.0.0.1"
    assert "--serve-artifacts" in argv
    assert "mlflow:*" in argv[argv.index("--allowed-hosts") + 1].split(",")


def test_remote_stores_are_passed_through_with_secrets_off_the_command_line(
    tmp_path: Path,
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=tmp_path / "state",
        mlflow_backend_store_uri="mysql+pymysql://mlflow:pw@mysql:3306/mlflow",
        mlflow_artifacts_destination="s3://bucket/mlflow",
        mlflow_s3_endpoint_url="http://minio:9000",
        aws_access_key_id="key-id",
        aws_secret_access_key="the-secret",
        host="0.0.0.0",
    )
    argv = mlflow_server_argv(settings)
    assert "s3://bucket/mlflow" in argv
    # any user can read a command line: no password, no key on it
    assert not [arg for arg in argv if "pw@" in arg or "the-secret" in arg]
    env = mlflow_server_env({"AWS_ACCESS_KEY_ID": "from-the-environment"}, settings)
    assert env["MLFLOW_BACKEND_STORE_URI"] == "mysql+pymysql://mlflow:pw@mysql:3306/mlflow"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == "key-id"
    assert env["AWS_SECRET_ACCESS_KEY"] == "the-secret"
    prepare_local_stores(settings)
    assert (tmp_path / "state").is_dir()
    assert not (tmp_path / "state" / "mlartifacts").exists()


def test_local_stores_are_created(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path / "h")  # type: ignore[call-arg]
    prepare_local_stores(settings)
    assert (tmp_path / "h" / "mlartifacts").is_dir()


def test_the_local_server_runs_no_job_runner_and_can_drop_its_access_log(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path)  # type: ignore[call-arg]
    assert "--uvicorn-opts" not in mlflow_server_argv(settings)
    quiet = mlflow_server_argv(settings, access_log=False)
    assert quiet[quiet.index("--uvicorn-opts") + 1] == "--no-access-log"
    env = mlflow_server_env({"PATH": "/bin"}, settings)
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert "AWS_SECRET_ACCESS_KEY" not in env  # only what is set is passed
    # a user who wants MLflow's job runner can still turn it on
    assert (
        mlflow_server_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true"}, settings)[
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
        ]
        == "true"
    )


def test_an_empty_s3_endpoint_is_not_passed_on(tmp_path: Path) -> None:
    # compose and Kubernetes write unset variables as empty strings; boto3 refuses ""
    settings = Settings(_env_file=None, home=tmp_path, mlflow_s3_endpoint_url="")  # type: ignore[call-arg]
    assert "MLFLOW_S3_ENDPOINT_URL" not in mlflow_server_env({}, settings)


def test_the_server_exports_metrics_into_a_fresh_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path)  # type: ignore[call-arg]
    argv = mlflow_server_argv(settings)
    folder = Path(argv[argv.index("--expose-prometheus") + 1])
    assert folder == metrics_dir(settings) == tmp_path.resolve() / "mlflow-metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"left by a previous server")
    reset_metrics_dir(settings)
    assert folder.is_dir() and not list(folder.iterdir())


def _auth_settings(home: Path, **values: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=home,
        mlflow_auth=True,
        mlflow_tracking_username="ops",
        mlflow_tracking_password=PASSWORD,
        **values,
    )


def test_without_auth_the_server_runs_mlflows_plain_app(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path)  # type: ignore[call-arg]
    assert "--app-name" not in mlflow_server_argv(settings)
    assert not [key for key in mlflow_server_env({}, settings) if key.startswith("MLFLOW_AUTH")]


def test_with_auth_the_server_runs_the_basic_auth_app_with_its_login_in_the_environment(
    tmp_path: Path,
) -> None:
    settings = _auth_settings(tmp_path)
    argv = mlflow_server_argv(settings)
    assert argv[argv.index("--app-name") + 1] == "basic-auth"
    assert "--expose-prometheus" in argv  # /metrics stays, behind the login
    assert not [arg for arg in argv if PASSWORD in arg]
    env = mlflow_server_env({"PATH": "/bin"}, settings)
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == str(tmp_path.resolve() / "mlflow-auth.ini")
    assert (env["MLFLOW_AUTH_ADMIN_USERNAME"], env["MLFLOW_AUTH_ADMIN_PASSWORD"]) == (
        "ops",
        PASSWORD,
    )
    assert len(env["MLFLOW_FLASK_SERVER_SECRET_KEY"]) >= 32
    # a key of the user's own (several servers behind one name) is kept
    kept = mlflow_server_env({"MLFLOW_FLASK_SERVER_SECRET_KEY": "mine"}, settings)
    assert kept["MLFLOW_FLASK_SERVER_SECRET_KEY"] == "mine"


def test_the_auth_config_is_the_owners_only_and_holds_no_password(tmp_path: Path) -> None:
    settings = _auth_settings(tmp_path / "home")
    path = write_auth_config(settings)
    assert path == auth_config_path(settings) == (tmp_path / "home").resolve() / "mlflow-auth.ini"
    assert path.stat().st_mode & 0o777 == 0o600
    assert PASSWORD not in path.read_text()
    parsed = configparser.ConfigParser()  # as MLflow reads it, with interpolation
    parsed.read(path)
    section = parsed["mlflow"]
    assert section["default_permission"] == "READ"
    assert section["admin_username"] == "ops"
    assert section["database_uri"] == f"sqlite:///{(tmp_path / 'home').resolve()}/mlflow-auth.db"
    # written again over a file another run left readable
    path.chmod(0o644)
    write_auth_config(settings)
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_percent_sign_in_the_user_database_uri_survives_mlflows_reading(tmp_path: Path) -> None:
    uri = "postgresql://mlflow:p%40ss@db:5432/mlflow_auth"
    settings = _auth_settings(tmp_path, mlflow_auth_database_uri=uri)
    parsed = configparser.ConfigParser()
    parsed.read(write_auth_config(settings))
    assert parsed["mlflow"]["database_uri"] == uri


def test_mlflow_refuses_auth_without_a_login_in_one_line(tmp_path: Path) -> None:
    env = service_env(MODELYARD_HOME=tmp_path / "home", MODELYARD_MLFLOW_AUTH="true")
    done = subprocess.run(
        modelyard_argv("mlflow"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: MODELYARD_MLFLOW_AUTH is on: set MLFLOW_TRACKING_USERNAME and "
        "MLFLOW_TRACKING_PASSWORD (the login of MLflow's admin)\n"
    )
    assert not (tmp_path / "home").exists()
