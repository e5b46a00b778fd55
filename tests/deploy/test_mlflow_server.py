from __future__ import annotations

from pathlib import Path

from modelyard.config import Settings
from modelyard.deploy.mlflow_server import (
    mlflow_server_argv,
    mlflow_server_env,
    prepare_local_stores,
)


def test_argv_serves_artifacts_over_http(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, home=tmp_path, mlflow_port=5123)  # type: ignore[call-arg]
    argv = mlflow_server_argv(settings)
    assert argv[1] == "server"
    opts = {flag: argv[i + 1] for i, flag in enumerate(argv[:-1]) if flag.startswith("--")}
    assert opts["--backend-store-uri"] == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert opts["--artifacts-destination"] == str(tmp_path.resolve() / "mlartifacts")
    assert opts["--port"] == "5123" and opts["--host"] == "127.0.0.1"
    assert "--serve-artifacts" in argv
    assert "mlflow:*" in argv[argv.index("--allowed-hosts") + 1].split(",")


def test_remote_stores_are_passed_through(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=tmp_path / "state",
        mlflow_backend_store_uri="postgresql://mlflow:pw@postgres:5432/mlflow",
        mlflow_artifacts_destination="s3://bucket/mlflow",
        host="0.0.0.0",
    )
    argv = mlflow_server_argv(settings)
    assert "postgresql://mlflow:pw@postgres:5432/mlflow" in argv
    assert "s3://bucket/mlflow" in argv
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
    env = mlflow_server_env({"PATH": "/bin"})
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    # a user who wants MLflow's job runner can still turn it on
    assert (
        mlflow_server_env({"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true"})[
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
        ]
        == "true"
    )
