"""``modelyard score``: messages and exit codes, with model folders and no tracking server."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from modelyard.cli import app

pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("MODELYARD_MODEL_REF", "MODELYARD_MODEL_NAME", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def _score(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["score", *map(str, args), "--no-track"])


def _error(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_clean_run_exits_0_and_says_what_it_did(
    iris_csv: Path, iris_folder: Path, tmp_path: Path
) -> None:
    done = _score("-i", iris_csv, "-o", tmp_path / "out.csv", "--model", iris_folder)
    assert done.exit_code == 0, done.stderr
    assert "scored 150 of 150 rows of" in done.stderr
    assert len(pd.read_csv(tmp_path / "out.csv")) == 150


def test_rejected_rows_exit_3_and_the_rest_is_written(
    iris_csv: Path, iris_folder: Path, tmp_path: Path
) -> None:
    with iris_csv.open("a") as handle:
        handle.write("9001,abc,3.0,1.0,0.2,setosa\n")
    done = _score("-i", iris_csv, "-o", tmp_path / "out.parquet", "--model", iris_folder)
    assert done.exit_code == 3, done.stderr
    assert "; 1 rejected (reasons in" in done.stderr
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 150
    assert pd.read_csv(tmp_path / "out.rejects.csv")["row"].tolist() == [151]


def test_a_missing_input_is_one_line_before_the_model_loads(tmp_path: Path) -> None:
    done = _score("-i", tmp_path / "nope.csv", "-o", tmp_path / "out.csv", "--model", "./absent")
    assert done.exit_code == 1
    assert _error(done) == f"error: input {tmp_path / 'nope.csv'}: no such file"


def test_an_unknown_model_is_one_line(iris_csv: Path, tmp_path: Path) -> None:
    done = _score("-i", iris_csv, "-o", tmp_path / "out.csv", "--model", tmp_path / "no-model")
    assert done.exit_code == 1
    assert _error(done).startswith("error: ")
    assert not (tmp_path / "out.csv").exists()


def test_columns_that_do_not_match_are_named_and_nothing_is_written(
    iris_folder: Path, tmp_path: Path
) -> None:
    source = tmp_path / "wrong.csv"
    source.write_text("id,sepal_length,sepal_width,petal_len,petal_wid\n1,1,2,3,4\n")
    done = _score("-i", source, "-o", tmp_path / "out.csv", "--model", iris_folder)
    assert done.exit_code == 1
    assert _error(done) == (
        f"error: input {source} lacks the model's feature columns petal_length, petal_width "
        "(the model takes sepal_length, sepal_width, petal_length, petal_width; the file has "
        "id, sepal_length, sepal_width, petal_len, petal_wid)"
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["wrong.csv"]


def test_an_existing_output_needs_overwrite(
    iris_csv: Path, iris_folder: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.csv"
    output.write_text("old\n")
    done = _score("-i", iris_csv, "-o", output, "--model", iris_folder)
    assert done.exit_code == 1
    assert _error(done) == f"error: output {output} exists; pass --overwrite to replace it"
    done = _score("-i", iris_csv, "-o", output, "--model", iris_folder, "--overwrite")
    assert done.exit_code == 0, done.stderr
    assert len(pd.read_csv(output)) == 150


def test_no_input_cannot_run(tmp_path: Path) -> None:
    done = _score("-o", tmp_path / "out.csv")
    assert done.exit_code == 2
    assert _error(done).startswith("error: --input: name a CSV or Parquet file")


def test_an_image_folder_with_an_image_model(digits_folder: Path, tmp_path: Path) -> None:
    from serving_models import digit_image

    scans = tmp_path / "scans"
    scans.mkdir()
    for digit in (1, 7):
        (scans / f"{digit}.png").write_bytes(digit_image(digit))
    done = _score("-i", scans, "-o", tmp_path / "out.csv", "--model", digits_folder, "--top-k", "2")
    assert done.exit_code == 0, done.stderr
    out = pd.read_csv(tmp_path / "out.csv")
    assert out[["file", "label_1"]].values.tolist() == [["1.png", 1], ["7.png", 7]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-i", "database", "-o", "out.csv"), "error: --output: scoring the database writes"),
        (("-i", "iris.csv"), "error: --output: name the file to write (CSV or Parquet)"),
        (("-i", "iris.csv", "-o", "iris.csv"), "is the input file; name another"),
    ],
)
def test_options_are_checked_before_the_model_is_looked_for(
    iris_csv: Path, args: tuple[str, ...], message: str
) -> None:
    done = _score(*args, "--model", "./no-such-model")  # never loaded: the options fail first
    assert done.exit_code == 1
    assert message in _error(done)
