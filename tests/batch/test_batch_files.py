"""Scoring whole files: chunking, rejects, Parquet, refusals before work, ``--overwrite``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from batch_support import iris_frame

from modelyard.batch.job import run_plan
from modelyard.batch.plan import BatchRequest, plan_batch
from modelyard.config import Settings
from modelyard.errors import ConfigError
from modelyard.inference.model import LoadedModel

BAD_LINES = "9001,abc,3.0,1.0,0.2,setosa\n9002,5.0,3.0,1.0,0.2,setosa,extra\n9003,,3.0,1.0,0.2,x\n"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, home=tmp_path / "home")  # type: ignore[call-arg]


def _score(model: LoadedModel, settings: Settings, source: Path, output: Path, **options: object):  # type: ignore[no-untyped-def]
    plan = plan_batch(model, BatchRequest(str(source), output, **options))  # type: ignore[arg-type]
    return run_plan(model, plan, settings)


def test_a_file_scored_in_several_chunks_equals_one_chunk(
    iris: LoadedModel, settings: Settings, iris_csv: Path, tmp_path: Path
) -> None:
    with iris_csv.open("a") as handle:
        handle.write(BAD_LINES)
    whole = _score(iris, settings, iris_csv, tmp_path / "whole.csv", chunk_rows=1000)
    parts = _score(iris, settings, iris_csv, tmp_path / "parts.csv", chunk_rows=7)
    assert (tmp_path / "whole.csv").read_bytes() == (tmp_path / "parts.csv").read_bytes()
    assert (tmp_path / "whole.rejects.csv").read_bytes() == (
        tmp_path / "parts.rejects.csv"
    ).read_bytes()
    assert (whole.rows_in, whole.rows_scored, whole.rows_rejected) == (153, 150, 3)
    assert (parts.rows_in, parts.rows_scored, parts.rows_rejected) == (153, 150, 3)


def test_the_output_keeps_the_keys_and_the_rejects_say_why(
    iris: LoadedModel, settings: Settings, iris_csv: Path, tmp_path: Path
) -> None:
    with iris_csv.open("a") as handle:
        handle.write(BAD_LINES)
    summary = _score(iris, settings, iris_csv, tmp_path / "out.csv", chunk_rows=50)
    out = pd.read_csv(tmp_path / "out.csv", dtype={"id": str})
    assert list(out.columns) == [
        "id",
        "species",
        "label",
        "probability_setosa",
        "probability_versicolor",
        "probability_virginica",
    ]
    assert out["id"].tolist() == iris_frame()["id"].tolist()
    assert summary.rejects == str(tmp_path / "out.rejects.csv")
    assert (tmp_path / "out.rejects.csv").read_text().splitlines() == [
        "row,reason,field,id,species,sepal_length,sepal_width,petal_length,petal_width",
        '151,"expected a number, got str",sepal_length,9001,setosa,abc,3.0,1.0,0.2',
        '152,"expected 6 fields, saw 7",,,,,,,',
        "153,the value is missing; send a number,sepal_length,9003,x,,3.0,1.0,0.2",
    ]
    assert not list(tmp_path.glob(".*.partial"))


def test_a_clean_run_writes_no_rejects_file(
    iris: LoadedModel, settings: Settings, iris_csv: Path, tmp_path: Path
) -> None:
    summary = _score(iris, settings, iris_csv, tmp_path / "out.csv", keys=("id",))
    assert summary.clean and summary.rejects is None
    assert not (tmp_path / "out.rejects.csv").exists()
    assert pd.read_csv(tmp_path / "out.csv").columns[0] == "id"


def test_parquet_in_and_out_gives_the_csv_run_s_rows(
    iris: LoadedModel, settings: Settings, iris_csv: Path, tmp_path: Path
) -> None:
    source = tmp_path / "iris.parquet"
    iris_frame().to_parquet(source, index=False, row_group_size=40)
    _score(iris, settings, source, tmp_path / "out.parquet", chunk_rows=25)
    _score(iris, settings, iris_csv, tmp_path / "out.csv")
    from_parquet = pd.read_parquet(tmp_path / "out.parquet")
    from_csv = pd.read_csv(tmp_path / "out.csv", dtype={"id": str})
    pd.testing.assert_frame_equal(from_parquet, from_csv, check_dtype=False)
    _score(iris, settings, iris_csv, tmp_path / "csv-to.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "csv-to.parquet"), from_parquet)


def test_a_header_only_file_gives_a_header_only_output(
    iris: LoadedModel, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "none.csv"
    source.write_text("id,sepal_length,sepal_width,petal_length,petal_width\n")
    summary = _score(iris, settings, source, tmp_path / "out.csv")
    assert (summary.rows_in, summary.rows_scored) == (0, 0)
    assert (tmp_path / "out.csv").read_text() == (
        '"id","label","probability_setosa","probability_versicolor","probability_virginica"\n'
    )


def test_an_existing_output_is_refused_unless_overwrite(
    iris: LoadedModel, settings: Settings, iris_csv: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.csv"
    output.write_text("keep me\n")
    with pytest.raises(ConfigError, match=r"output .*out\.csv exists; pass --overwrite"):
        _score(iris, settings, iris_csv, output)
    assert output.read_text() == "keep me\n"
    stale = tmp_path / "out.rejects.csv"
    stale.write_text("row,reason\n1,old\n")
    output.unlink()
    with pytest.raises(ConfigError, match=r"rejects .*out\.rejects\.csv exists"):
        _score(iris, settings, iris_csv, output)
    summary = _score(iris, settings, iris_csv, output, overwrite=True)
    assert summary.clean and not stale.exists()  # no rejects left from an earlier run
    assert len(pd.read_csv(output)) == 150


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("out.txt", r"output .*out\.txt: unknown file type"),
        ("missing/out.csv", r"the folder .*missing does not exist"),
        ("iris.csv", r"output .*iris\.csv is the input file"),
    ],
)
def test_bad_outputs_are_refused_before_any_work(
    iris: LoadedModel, iris_csv: Path, tmp_path: Path, output: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan_batch(iris, BatchRequest(str(iris_csv), tmp_path / output, overwrite=True))


def test_a_model_of_the_other_kind_is_refused(iris: LoadedModel, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder, but model 'iris' takes rows of features"):
        plan_batch(iris, BatchRequest(str(tmp_path), tmp_path / "out.csv"))


def test_a_failed_run_leaves_no_file(iris: LoadedModel, settings: Settings, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n")
    plan = plan_batch(iris, BatchRequest(str(source), tmp_path / "out.csv"))
    source.write_bytes(b"sepal_length,sepal_width,petal_length,petal_width\n\xff\xfe,\x81\n")
    with pytest.raises(ConfigError, match="cannot read it as CSV"):
        run_plan(iris, plan, settings)
    assert [p.name for p in tmp_path.iterdir()] == ["rows.csv"]


def test_memory_follows_the_chunk_not_the_file(
    iris: LoadedModel, settings: Settings, tmp_path: Path
) -> None:
    import tracemalloc

    source = tmp_path / "big.csv"
    pd.concat([iris_frame()] * 1000, ignore_index=True).to_csv(source, index=False)  # 150,000

    def peak(chunk_rows: int) -> int:
        tracemalloc.start()
        try:
            _score(
                iris, settings, source, tmp_path / f"out-{chunk_rows}.csv", chunk_rows=chunk_rows
            )
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, whole = peak(2_000), peak(150_000)
    assert small * 5 < whole, (small, whole)
    assert (tmp_path / "out-2000.csv").read_bytes() == (tmp_path / "out-150000.csv").read_bytes()
