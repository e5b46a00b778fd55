"""The fast CSV path: pyarrow reads and writes, the pandas reader only for rows it rejects."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from batch_support import IRIS, iris_frame

from modelyard.batch.arrow import float_array, floats, label_texts
from modelyard.batch.job import run_plan
from modelyard.batch.plan import BatchRequest, TablePlan, plan_batch
from modelyard.batch.tables import NotPlain
from modelyard.config import Settings
from modelyard.inference.model import LoadedModel


def _plan(model: LoadedModel, source: Path, output: Path) -> TablePlan:
    plan = plan_batch(model, BatchRequest(str(source), output, chunk_rows=40))
    assert isinstance(plan, TablePlan)
    return plan


def _reads_fast(plan: TablePlan) -> bool:
    layout = plan.layout
    try:
        list(plan.source.arrow_chunks(layout.keys, layout.features, plan.chunk_rows))
    except NotPlain:
        return False
    return True


def test_the_fast_reader_writes_what_the_pandas_reader_writes(
    iris: LoadedModel, tmp_path: Path
) -> None:
    frame = iris_frame()
    frame.loc[[3, 77], "petal_width"] = np.nan  # missing values: rejected, row by row
    frame.loc[5, "id"] = ""  # an empty key is copied as it is
    settings = Settings(_env_file=None, home=tmp_path / "home")  # type: ignore[call-arg]
    clean, dirty = tmp_path / "clean.csv", tmp_path / "dirty.csv"
    frame.to_csv(clean, index=False)
    frame.to_csv(dirty, index=False)
    with dirty.open("a") as handle:
        handle.write("9001,5.0,3.0,1.0,0.2,setosa,extra\n")  # only pandas reads (and rejects) it
    fast, slow = (
        _plan(iris, clean, tmp_path / "fast.csv"),
        _plan(iris, dirty, tmp_path / "slow.csv"),
    )
    assert _reads_fast(fast) and not _reads_fast(slow)

    ran_fast, ran_slow = run_plan(iris, fast, settings), run_plan(iris, slow, settings)

    assert (ran_fast.rows_in, ran_fast.rows_scored, ran_fast.rows_rejected) == (150, 148, 2)
    assert (ran_slow.rows_in, ran_slow.rows_scored, ran_slow.rows_rejected) == (151, 148, 3)
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()
    fast_rejects = (tmp_path / "fast.rejects.csv").read_text().splitlines()
    slow_rejects = (tmp_path / "slow.rejects.csv").read_text().splitlines()
    assert fast_rejects == slow_rejects[:-1]
    assert fast_rejects[1].startswith("4,the value is missing; send a number,petal_width,0003,")
    assert not list(tmp_path.glob(".*.partial"))


def test_a_scored_run_imports_no_pandas(iris_folder: Path, tmp_path: Path) -> None:
    source, output = tmp_path / "rows.csv", tmp_path / "out.csv"
    iris_frame().to_csv(source, index=False)
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from modelyard.batch.job import run_plan
        from modelyard.batch.plan import BatchRequest, plan_batch
        from modelyard.config import Settings
        from modelyard.inference.model import load_prepared
        from modelyard.inference.prepare import read_prepared
        from modelyard.registry import VersionInfo

        info = VersionInfo(name="iris", version="1", run_id=None, aliases=(), created_at=0.0)
        model = load_prepared(read_prepared(Path({str(iris_folder)!r})), info, "1")
        plan = plan_batch(model, BatchRequest({str(source)!r}, Path({str(output)!r})))
        summary = run_plan(model, plan, Settings(_env_file=None, home=Path({str(tmp_path)!r})))
        assert summary.rows_scored == 150, summary
        print(sorted(m for m in ("pandas", "mlflow", "sklearn") if m in sys.modules))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_arrow_columns_become_numbers_with_missing_values_as_nan() -> None:
    column = pa.chunked_array(
        [pa.array([1.5, None, 3.0, 4.0]), pa.array([None, 6.25])], pa.float64()
    ).slice(1, 4)  # chunks that start at an offset
    assert np.array_equal(floats(column), [np.nan, 3.0, 4.0, np.nan], equal_nan=True)
    assert floats(pa.chunked_array([], pa.float64())).shape == (0,)
    back = float_array(np.array([0.5, np.nan, 2.0]))
    assert back.to_pylist() == [0.5, None, 2.0]


@pytest.mark.parametrize(
    "labels",
    [[2, 0, 1, 2], ["setosa", "virginica", "setosa"], [True, False], [0.5, 1.0], [1, "a", None]],
)
def test_labels_are_written_as_str_writes_them(labels: list[object]) -> None:
    assert label_texts(labels).cast(pa.string()).to_pylist() == [str(v) for v in labels]


def test_the_features_are_checked_by_the_one_validator(iris: LoadedModel) -> None:
    from modelyard.errors import FeatureError

    columns = {name: np.array(iris_frame()[name], dtype=np.float64) for name in IRIS}
    assert iris.tabular.columns_to_matrix(columns, 150).shape == (150, 4)
    columns["sepal_width"][7] = np.inf
    with pytest.raises(FeatureError) as caught:
        iris.tabular.columns_to_matrix(columns, 150)
    assert (caught.value.field, caught.value.row) == ("sepal_width", 7)
