"""Batch-scoring benchmark: ``modelyard score`` against ``mlflow models predict``, one file.

    uv run python benchmarks/batch/run.py                          # full run, writes RESULTS.md
    uv run python benchmarks/batch/run.py --rows 2000 --output /tmp/batch.md   # a smoke run

What it does, with real processes only (see README.md):

1. starts ``modelyard mlflow`` on a free port in a temporary home and registers the iris
   LogisticRegression and a RandomForest with 100 trees through the real training pipeline;
2. writes ``--rows`` iris rows (the 150 rows over and over) to one CSV file;
3. for each model, one after the other on the same file and the same registered version:
   ``modelyard score -i rows.csv -o out.csv --model iris@<v>`` (which also records its run
   in MLflow, as by default) and
   ``mlflow models predict -m models:/iris/<v> -i rows.csv -t csv -o out.json
   --env-manager local``; each command's wall time from launch to exit (start-up, model
   download and load included: both are run as a person runs them) and the peak resident
   memory of its process tree, sampled from /proc every 20 ms;
4. checks that both wrote the same labels, and writes a Markdown report with the exact
   command, the machine, and pass/fail against the targets (at least 10x MLflow's rows/s,
   peak RSS under 500 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' process helpers
sys.path.insert(0, str(HERE.parent / "streaming"))  # the streaming benchmark's pieces
from streaming_module import streaming_benchmark  # noqa: E402

from support import service_env  # noqa: E402

harness = streaming_benchmark()
start, stop, tracking_server = harness.start, harness.stop, harness.tracking_server
IRIS = ("sepal_length", "sepal_width", "petal_length", "petal_width")
MODELS = {
    "logreg": ("LogisticRegression", {"model": {"estimator": "logistic_regression"}}),
    "forest": (
        "RandomForest(100)",
        {
            "model": {
                "estimator": "random_forest",
                "hyperparameters": {"random_forest": {"n_estimators": 100}},
            }
        },
    ),
}
TIMES_MLFLOW = 10.0  # modelyard's rows/s at least this many times mlflow's
RSS_LIMIT_MB = 500.0  # modelyard's peak resident memory below this


# --- processes ---------------------------------------------------------------------------------
def tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and every process under it, from /proc (MB)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total_kib, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


@dataclass(frozen=True)
class Measured:
    tool: str
    model: str
    seconds: float
    peak_rss_mb: float
    exit_code: int
    rows: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def measure(
    tool: str, model: str, argv: Sequence[str], env: dict[str, str], log: Path, rows: int
) -> Measured:
    """Run ``argv`` to its end; wall time from launch to exit and the tree's peak RSS."""
    peak = 0.0
    started = time.perf_counter()
    proc = start(argv, env, log)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mb(proc.pid))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        code = proc.wait()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        stop(proc)
    return Measured(tool, model, seconds, peak, code, rows)


# --- the registry and the data -------------------------------------------------------------------
def register(tracking_uri: str, work: Path, keys: Sequence[str]) -> dict[str, str]:
    """Train and register each model through the real pipeline; key → version."""
    from modelyard.config import Settings
    from modelyard.training import train

    for key, value in service_env().items():
        if key in {"KEDRO_DISABLE_TELEMETRY", "DO_NOT_TRACK", "MLFLOW_ENABLE_TELEMETRY"}:
            os.environ.setdefault(key, value)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        home=work / "train-home",
        mlflow_tracking_uri=tracking_uri,
        model_name="iris",
    )
    return {key: str(train(settings, MODELS[key][1]).version) for key in keys}


def write_rows(path: Path, rows: int) -> None:
    """``rows`` iris rows (the 150 over and over), the four features only, as CSV."""
    from sklearn.datasets import load_iris

    block = "".join(
        ",".join(repr(float(v)) for v in row) + "\n" for row in load_iris().data.tolist()
    )
    with path.open("w") as handle:
        handle.write(",".join(IRIS) + "\n")
        whole, rest = divmod(rows, 150)
        for _ in range(whole):
            handle.write(block)
        handle.write("".join(block.splitlines(keepends=True)[:rest]))


def same_labels(ours: Path, theirs: Path) -> bool:
    """Whether modelyard's CSV and MLflow's JSON predictions hold the same labels."""
    import pandas as pd

    labels = pd.read_csv(ours, usecols=["label"])["label"].astype(str).tolist()
    predictions = json.loads(theirs.read_text())
    if isinstance(predictions, dict):
        predictions = predictions.get("predictions", predictions)
    flat = [p if not isinstance(p, dict) else next(iter(p.values())) for p in predictions]
    return labels == [str(p) for p in flat]


# --- the run -----------------------------------------------------------------------------------
def compile_bytecode() -> None:
    """Compile the environment's modules to bytecode, as an installation's first run does.

    With ``PYTHONDONTWRITEBYTECODE`` set (this workplace sets it) no process writes ``.pyc``
    files, so each run would compile every module it imports again: seconds for MLflow,
    about one for modelyard. A user's environment has its bytecode (pip writes it when it
    installs, Python on first import), so both tools are measured with it.
    """
    import sysconfig

    paths = {sysconfig.get_paths()["purelib"], str(ROOT / "src")}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "-j", "0", *sorted(paths)],
        check=False,
        stdout=subprocess.DEVNULL,
    )


def commands(version: str, source: Path, ours: Path, theirs: Path) -> dict[str, list[str]]:
    """Each tool's command scoring ``source`` with version ``version``."""
    return {
        "modelyard score": [
            str(VENV_BIN / "modelyard"),
            "score",
            "-i",
            str(source),
            "-o",
            str(ours),
            "--overwrite",
            "--model",
            f"iris@{version}",
        ],
        "mlflow models predict": [
            str(VENV_BIN / "mlflow"),
            "models",
            "predict",
            "-m",
            f"models:/iris/{version}",
            "-i",
            str(source),
            "-t",
            "csv",
            "-o",
            str(theirs),
            "--env-manager",
            "local",
        ],
    }


def run_one(
    tool: str, key: str, argv: list[str], env: dict[str, str], work: Path, rows: int
) -> Measured:
    log = work / "logs" / f"{key}-{tool[:6]}-{rows}.log"
    measured = measure(tool, key, argv, env, log, rows)
    if measured.exit_code != 0:
        raise RuntimeError(f"{tool} exited {measured.exit_code}:\n{log.read_text()[-3000:]}")
    print(
        f"{key}: {tool}, {rows:,} rows: {measured.seconds:.1f}s, "
        f"{measured.rows_per_second:,.0f} rows/s, {measured.peak_rss_mb:.0f} MB",
        file=sys.stderr,
    )
    return measured


@dataclass
class Run:
    results: list[Measured]
    startup: dict[tuple[str, str], float]  # (model, tool) → seconds to score one row
    agree: dict[str, bool]
    size_mb: float
    load: tuple[float, float, float]  # before the first command
    load_after: tuple[float, float, float]  # after the last


def run(args: argparse.Namespace) -> Run:
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = [k for k in keys if k not in MODELS]
    if unknown:
        raise SystemExit(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    if args.compile:
        compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="modelyard-batch-bench-") as tmp:
        work = Path(tmp)
        with tracking_server(work) as url:
            versions = register(url, work, keys)
            source, one = work / "rows.csv", work / "one.csv"
            write_rows(source, args.rows)
            write_rows(one, 1)
            size_mb = source.stat().st_size / 1e6
            load = os.getloadavg()
            results: list[Measured] = []
            startup: dict[tuple[str, str], float] = {}
            agree: dict[str, bool] = {}
            for key in keys:
                ours, theirs = work / f"{key}.csv", work / f"{key}.json"
                env = service_env(MLFLOW_TRACKING_URI=url, MODELYARD_HOME=work / f"home-{key}")
                for tool, argv in commands(versions[key], source, ours, theirs).items():
                    shutil.rmtree(
                        work / f"home-{key}", ignore_errors=True
                    )  # downloads, as MLflow does
                    results.append(run_one(tool, key, argv, env, work, args.rows))
                agree[key] = same_labels(ours, theirs)
                if args.startup:
                    small = commands(versions[key], one, work / "one-out.csv", work / "one.json")
                    for tool, argv in small.items():
                        shutil.rmtree(work / f"home-{key}", ignore_errors=True)
                        startup[(key, tool)] = run_one(tool, key, argv, env, work, 1).seconds
    return Run(results, startup, agree, size_mb, load, os.getloadavg())


def report(args: argparse.Namespace, done: Run) -> str:
    load, results = done.load, done.results
    lines = [
        "# Batch scoring: `modelyard score` against `mlflow models predict`",
        "",
        f"- Command: `{shlex.join([Path(sys.executable).name, *sys.argv])}`",
        f"- When: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}; "
        f"load average before the first command: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}; "
        f"after the last: {', '.join(f'{v:.2f}' for v in done.load_after)}",
        f"- Input: {args.rows:,} iris rows, one CSV of {done.size_mb:.1f} MB; the same registered "
        "version for both tools; wall time from launch to exit (start-up, model download and "
        "load included; modelyard also records its run in MLflow, as by default); peak RSS of "
        "the process tree, sampled every 20 ms.",
        "- Bytecode: "
        + (
            "compiled for both tools before measuring (`python -m compileall`), as an "
            "installed environment has it."
            if args.compile
            else "as found (`--no-compile`)"
            + (
                "; PYTHONDONTWRITEBYTECODE is set, so a module without bytecode is compiled "
                "on every run."
                if os.environ.get("PYTHONDONTWRITEBYTECODE")
                else "."
            )
        ),
        "",
        "| model | tool | seconds | rows/s | peak RSS (MB) | same labels |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for m in results:
        same = "yes" if done.agree.get(m.model) else "NO"
        lines.append(
            f"| {MODELS[m.model][0]} | {m.tool} | {m.seconds:.1f} | {m.rows_per_second:,.0f} | "
            f"{m.peak_rss_mb:.0f} | {same} |"
        )
    lines += ["", "## Targets", ""]
    for key in dict.fromkeys(m.model for m in results):
        ours = next(m for m in results if m.model == key and m.tool.startswith("modelyard"))
        theirs = next(m for m in results if m.model == key and m.tool.startswith("mlflow"))
        ratio = ours.rows_per_second / theirs.rows_per_second if theirs.rows_per_second else 0.0
        fast = "pass" if ratio >= TIMES_MLFLOW else "FAIL"
        small = "pass" if ours.peak_rss_mb < RSS_LIMIT_MB else "FAIL"
        lines.append(
            f"- {MODELS[key][0]}: {ratio:.1f}x MLflow's rows/s (target ≥ {TIMES_MLFLOW:.0f}x: "
            f"{fast}); peak RSS {ours.peak_rss_mb:.0f} MB (target < {RSS_LIMIT_MB:.0f} MB: "
            f"{small})"
        )
    if done.startup:
        lines += [
            "",
            "## Extra information, not the target: the rate after start-up",
            "",
            "Each command run again on a one-row CSV (fresh model cache) measures its start-up "
            "(Python, imports, model download and load, writing, for modelyard recording the "
            "run); the rate after start-up is the file's rows over the rest of its time.",
            "",
            "| model | tool | start-up (s) | after start-up (s) | rows/s after start-up |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for m in results:
            first = done.startup.get((m.model, m.tool))
            if first is None:
                continue
            rest = m.seconds - first
            rate = f"{m.rows / rest:,.0f}" if rest > 0 else "— (within the noise)"
            lines.append(f"| {MODELS[m.model][0]} | {m.tool} | {first:.1f} | {rest:.2f} | {rate} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the CSV file")
    parser.add_argument(
        "--models", default="logreg,forest", help=f"comma separated: {', '.join(MODELS)}"
    )
    parser.add_argument(
        "--output", type=Path, default=HERE / "RESULTS.md", help="where the report goes"
    )
    parser.add_argument(
        "--no-compile",
        dest="compile",
        action="store_false",
        help="measure with the bytecode as found (see compile_bytecode)",
    )
    parser.add_argument(
        "--no-startup",
        dest="startup",
        action="store_false",
        help="skip the extra one-row runs that measure each tool's start-up",
    )
    args = parser.parse_args()
    text = report(args, run(args))
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
