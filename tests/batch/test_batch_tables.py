"""Reading input files: refusals before any work, and chunks as the model needs them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from batch_support import IRIS, iris_frame

from modelyard.batch.tables import open_table
from modelyard.errors import ConfigError


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"input .*nope\.csv: no such file"):
        open_table(tmp_path / "nope.csv")


def test_a_folder_named_like_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data.csv").mkdir()
    with pytest.raises(ConfigError, match=r"data\.csv: not a file"):
        open_table(tmp_path / "data.csv")


def test_an_unknown_file_type_names_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    with pytest.raises(
        ConfigError, match=r"unknown file type '\.xlsx'; use one of \.csv, \.parquet"
    ):
        open_table(path)


def test_an_empty_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        open_table(path)


def test_a_csv_that_is_not_text_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x81\x82,\x83\n\x90\x91")
    with pytest.raises(ConfigError, match=r"binary\.csv: cannot read it as CSV"):
        open_table(path)


def test_a_parquet_file_that_is_not_parquet_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match=r"fake\.parquet: cannot read it as PARQUET"):
        open_table(path)


def test_csv_keys_stay_text_and_empty_feature_cells_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("id,sepal_length,note\n007,,NA\n010,5.1,\n")
    table = open_table(path)
    assert table.columns == ("id", "sepal_length", "note")
    (chunk,) = table.chunks(["id", "note"], ["sepal_length"], 10)
    assert chunk.frame["id"].tolist() == ["007", "010"]
    assert chunk.frame["note"].tolist() == ["NA", ""]  # a key is copied as it was written
    assert chunk.frame["sepal_length"].isna().tolist() == [True, False]
    assert chunk.done == path.stat().st_size


def test_parquet_is_read_in_chunks_of_the_asked_size(tmp_path: Path) -> None:
    path = tmp_path / "iris.parquet"
    iris_frame().to_parquet(path, index=False)
    table = open_table(path)
    assert (table.total, table.unit) == (150, "rows")
    chunks = list(table.chunks(["id"], IRIS, 40))
    assert [len(c.frame) for c in chunks] == [40, 40, 40, 30]
    assert [c.done for c in chunks] == [40, 80, 120, 150]
    whole = pd.concat([c.frame for c in chunks], ignore_index=True)
    assert list(whole.columns) == ["id", *IRIS]
    assert whole["id"].tolist() == iris_frame()["id"].tolist()


def test_a_csv_header_that_names_a_column_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("id,sepal_length,id\n1,2,3\n")
    with pytest.raises(ConfigError, match=r"twice\.csv: the header names id more than once"):
        open_table(path)
