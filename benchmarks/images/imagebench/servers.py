"""How each image server is launched: modelyard, the Flask app under gunicorn, BentoML.

The peers run from a throwaway virtual environment (``.venv-peers`` next to run.py, git
ignored) that :func:`peers_venv` creates with uv and the pinned versions below; ONNX
Runtime, Pillow and numpy are pinned to the versions modelyard's own venv has, so every
server runs the same model code.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from harness.procs import Server, free_port, launch
from harness.servers import VENV_BIN, base_env

from imagebench.models import CHAMPION, MODEL_NAME

HERE = Path(__file__).resolve().parent.parent
PEERS_APPS = HERE / "peers"
PEERS_VENV = HERE / ".venv-peers"
REPO = HERE.parents[1]
BENTOML_VERSION = "1.4.40"
FLASK_VERSION = "3.1.3"
GUNICORN_VERSION = "26.2.0"
SAME_AS_OURS = ("onnxruntime", "pillow", "numpy")


@dataclass(frozen=True)
class Route:
    """Where a server takes the request for one model version, and in which body."""

    path: str
    body: str  # "json" | "multipart" (see payloads.write_bodies)


def requirements() -> list[str]:
    ours = [f"{dist}=={metadata.version(dist)}" for dist in SAME_AS_OURS]
    return [
        f"bentoml=={BENTOML_VERSION}",
        f"flask=={FLASK_VERSION}",
        f"gunicorn=={GUNICORN_VERSION}",
        *ours,
    ]


def _uv() -> str:
    found = shutil.which("uv")
    local = REPO / ".tools" / "uv" / "bin" / "uv"
    if local.exists():
        return str(local)
    if found:
        return found
    raise RuntimeError("uv is needed to build the peers' venv: run `make sync` first")


def peers_venv(folder: Path = PEERS_VENV) -> Path:
    """The peers' venv (created or updated when its requirements changed); its bin folder."""
    wanted = "\n".join(requirements()) + "\n"
    stamp = folder / "requirements.installed"
    if stamp.exists() and stamp.read_text() == wanted:
        return folder / "bin"
    uv = _uv()
    python = VENV_BIN / "python"
    subprocess.run([uv, "venv", "--quiet", "--python", str(python), str(folder)], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(folder / "bin" / "python"),
            *wanted.split(),
        ],
        check=True,
    )
    stamp.write_text(wanted)
    return folder / "bin"


def peer_versions(bin_dir: Path) -> dict[str, str]:
    """Installed versions in the peers' venv (read by its own Python)."""
    names = ["bentoml", "flask", "gunicorn", *SAME_AS_OURS]
    code = (
        "import importlib.metadata as m, json; "
        f"print(json.dumps({{n: m.version(n) for n in {names!r}}}))"
    )
    done = subprocess.run(
        [str(bin_dir / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    import json

    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def start_ours(
    tracking_uri: str,
    home: Path,
    workdir: Path,
    tag: str,
    versions: tuple[str, str],
    cpus: Sequence[int] = (),
) -> Server:
    """`modelyard serve`, one worker: /v1/predict and /v2/predict on the two ``versions``."""
    port = free_port()
    env = base_env(tracking_uri)
    env.update(
        {
            "MODELYARD_HOME": str(home),
            "MODELYARD_API_PORT": str(port),
            "MODELYARD_HOST": "127.0.0.1",
            "MODELYARD_MODEL_NAME": MODEL_NAME,
            "MODELYARD_MODEL_REF": CHAMPION,
            "MODELYARD_V1_MODEL": f"{MODEL_NAME}@{versions[0]}",
            "MODELYARD_V2_MODEL": f"{MODEL_NAME}@{versions[1]}",
            "MODELYARD_API_WORKERS": "1",
        }
    )
    return launch(
        f"modelyard-{tag}",
        [str(VENV_BIN / "modelyard"), "serve"],
        env,
        workdir / "logs" / f"modelyard-{tag}.log",
        f"http://127.0.0.1:{port}",
        cwd=workdir,
        cpus=cpus,
    )


def _peer_env(models: Path, workdir: Path, bin_dir: Path) -> dict[str, str]:
    env = base_env()
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["DIGITS_MODELS"] = str(models)
    env["BENTOML_HOME"] = str(workdir / "bentoml-home")
    env["BENTOML_DO_NOT_TRACK"] = "True"
    return env


def flask_workers(cpus: Sequence[int]) -> int:
    """gunicorn's documented starting point: (2 x cores) + 1, for the cores it may use."""
    import os

    return 2 * (len(cpus) or len(os.sched_getaffinity(0))) + 1


def start_flask(
    bin_dir: Path, models: Path, workdir: Path, workers: int, cpus: Sequence[int] = ()
) -> Server:
    """The Flask app under gunicorn: ``workers`` sync workers, access log off (the default)."""
    port = free_port()
    argv = [
        str(bin_dir / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--chdir",
        str(PEERS_APPS),
        "flask_app:create_app()",
    ]
    return launch(
        "flask-gunicorn",
        argv,
        _peer_env(models, workdir, bin_dir),
        workdir / "logs" / "flask.log",
        f"http://127.0.0.1:{port}",
        cwd=PEERS_APPS,
        cpus=cpus,
    )


def start_bento(bin_dir: Path, models: Path, workdir: Path, cpus: Sequence[int] = ()) -> Server:
    """`bentoml serve` of ``peers/bento_service.py`` (1 worker, adaptive batching on)."""
    port = free_port()
    argv = [
        str(bin_dir / "bentoml"),
        "serve",
        "bento_service:Digits",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return launch(
        "bentoml",
        argv,
        _peer_env(models, workdir, bin_dir),
        workdir / "logs" / "bentoml.log",
        f"http://127.0.0.1:{port}",
        cwd=PEERS_APPS,
        cpus=cpus,
    )
