"""How each server under test is launched: MLflow tracking, `mlflow models serve`, modelyard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import limit_app
from harness.payloads import Payload, good_answer, http_call
from harness.procs import Server, free_port, launch, wait_until

VENV_BIN = Path(sys.executable).parent
HARNESS = Path(__file__).resolve().parent
ALLOWED_HOSTS = "localhost,localhost:*,127.0.0.1,127.0.0.1:*"


def base_env(tracking_uri: str | None = None) -> dict[str, str]:
    """The caller's environment without modelyard settings, with the venv's bin first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELYARD_", "MLFLOW_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["KEDRO_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return env


def start_tracking(workdir: Path) -> Server:
    """A temporary `mlflow server` (SQLite store, served artifacts) on a free port."""
    port = free_port()
    argv = [
        str(VENV_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--artifacts-destination",
        str(workdir / "art"),
        "--serve-artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--allowed-hosts",
        ALLOWED_HOSTS,
        "--workers",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    env = base_env()
    # Only the registry is needed; no background job runners competing for the CPU.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    server = launch("mlflow-tracking", argv, env, workdir / "logs" / "tracking.log", url, workdir)
    try:
        wait_until(server, lambda: http_call(url + "/health", timeout=2)[0] == 200, timeout=300)
    except BaseException:
        server.stop()
        raise
    return server


def start_peer(
    model_uri: str, tracking_uri: str, workdir: Path, tag: str, cpus: Sequence[int] = ()
) -> Server:
    """`mlflow models serve` for ``model_uri`` in the current environment, on ``cpus``."""
    port = free_port()
    argv = [
        str(VENV_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    env = base_env(tracking_uri)
    return launch(
        f"mlflow-serve-{tag}",
        argv,
        env,
        workdir / "logs" / f"peer-{tag}.log",
        f"http://127.0.0.1:{port}",
        cwd=workdir,
        cpus=cpus,
    )


def with_source(env: dict[str, str], src: Path | None) -> dict[str, str]:
    """``env`` with ``src`` first on PYTHONPATH, so `import modelyard` finds that copy first.

    The venv installs modelyard editable through a ``.pth`` path entry, which comes after
    PYTHONPATH on ``sys.path``; ``imported_from`` checks that this holds.
    """
    if src is None:
        return env
    rest = env.get("PYTHONPATH")
    return {**env, "PYTHONPATH": os.pathsep.join([str(src), *([rest] if rest else [])])}


def imported_from(src: Path | None) -> Path:
    """Where `import modelyard` resolves for a server started with ``src`` (None: the venv's)."""
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-c", "import modelyard; print(modelyard.__file__)"],
        env=with_source(base_env(), src),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"`import modelyard` failed with PYTHONPATH={src}:\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1]).resolve()


def start_modelyard(
    version: str,
    tracking_uri: str,
    home: Path,
    workdir: Path,
    tag: str,
    workers: int = 1,
    cpus: Sequence[int] = (),
    src: Path | None = None,
) -> Server:
    """`modelyard serve` bound to one registered version (on every route) with ``workers``.

    ``src``: a folder holding another revision's ``modelyard`` package, imported instead of
    the venv's; ``cpus``: where the whole process tree runs.
    """
    port = free_port()
    env = with_source(base_env(tracking_uri), src)
    env.update(
        {
            "MODELYARD_HOME": str(home),
            "MODELYARD_API_PORT": str(port),
            "MODELYARD_HOST": "127.0.0.1",
            "MODELYARD_MODEL_NAME": "iris",
            "MODELYARD_MODEL_REF": version,
            "MODELYARD_V1_MODEL": version,
            "MODELYARD_V2_MODEL": version,
            "MODELYARD_API_WORKERS": str(workers),
            # The constant-response route, the physical-limit row; off in production.
            "MODELYARD_BENCH_ENDPOINTS": "true",
        }
    )
    argv = [str(VENV_BIN / "modelyard"), "serve"]
    return launch(
        f"modelyard-{tag}",
        argv,
        env,
        workdir / "logs" / f"modelyard-{tag}.log",
        f"http://127.0.0.1:{port}",
        cwd=workdir,
        cpus=cpus,
    )


def start_limit(workdir: Path, cpus: Sequence[int] = (), timeout: float = 60) -> Server:
    """The limit app (``limit_app.py``) on uvicorn, uvloop and httptools, one worker; ready."""
    port = free_port()
    argv = [
        str(VENV_BIN / "python"),
        "-m",
        "uvicorn",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--workers",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--app-dir",
        str(HARNESS),
        "limit_app:app",
    ]
    url = f"http://127.0.0.1:{port}"
    server = launch(
        "limit-app", argv, base_env(), workdir / "logs" / "limit-app.log", url, workdir, cpus
    )
    probe = url + limit_app.PATH
    try:
        wait_until(server, lambda: http_call(probe, "POST", b"{}", timeout=2)[0] == 200, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def wait_first_prediction(server: Server, path: str, payload: Payload, timeout: float) -> float:
    """Seconds from launch to the first 200 answer with one prediction per row."""
    url = server.base_url + path
    return wait_until(server, lambda: good_answer(url, payload) is not None, timeout)


def openapi_paths(server: Server) -> dict[str, list[str]]:
    """Route → methods, from the server's OpenAPI document (empty if it has none)."""
    try:
        status, raw = http_call(server.base_url + "/openapi.json", timeout=5)
    except OSError:
        return {}
    if status != 200:
        return {}
    paths = json.loads(raw).get("paths", {})
    return {path: sorted(m.upper() for m in ops) for path, ops in paths.items()}
