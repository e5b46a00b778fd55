"""Reading a CSV or Parquet file in chunks, after checking its columns against the model.

:func:`open_table` reads only the header (a CSV's first line, a Parquet file's schema), so
that a file that cannot be read, or whose columns do not match the model's features, is
refused with a message naming them before any row is scored. :meth:`TableSource.chunks`
then yields DataFrames of at most ``rows`` rows: ``pandas.read_csv(chunksize=...)`` for a
CSV, ``pyarrow.parquet.ParquetFile.iter_batches`` for Parquet, so a file larger than memory
is scored in constant memory.

:meth:`TableSource.arrow_chunks` is the fast reader of a CSV: ``pyarrow.csv``'s streaming
reader, on several threads, into Arrow tables of the same ``rows`` rows (no pandas in the
process). It reads what a well-formed file holds (text keys, numbers or missing values in the
feature columns); at anything else (text in a feature cell, a line with more fields than the
header, bytes that are not UTF-8) it raises :class:`NotPlain`, and the file is read again by
the pandas reader, which sends such rows to the rejects file with their reason.

A CSV's key columns are read as text and written back as they were (an id ``007`` stays
``007``); its feature columns are parsed as numbers, an empty cell (or ``NA``, ``NaN``,
``null``) being a missing value. A line with more fields than the header is not parsed at
all: it comes back as a :class:`Malformed` line, for the rejects file.
"""

from __future__ import annotations

import csv
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from modelyard.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

TableFormat = Literal["csv", "parquet"]
CSV: TableFormat = "csv"
PARQUET: TableFormat = "parquet"
SUFFIXES: dict[str, TableFormat] = {".csv": CSV, ".parquet": PARQUET, ".pq": PARQUET}
# What a CSV's feature cell may hold to be a missing value.
MISSING = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
_SKIPPED = re.compile(r"Skipping line (\d+): (.*)")
ARROW_BLOCK_BYTES = 4 << 20  # what each of the fast reader's threads parses at a time


def table_format(path: Path, what: str = "input") -> TableFormat:
    """CSV or Parquet, by the file's suffix; a ConfigError for any other."""
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        known = ", ".join(SUFFIXES)
        raise ConfigError(f"{what} {path}: unknown file type {path.suffix!r}; use one of {known}")
    return found


@dataclass(frozen=True)
class Malformed:
    """A CSV line that could not be split into the header's columns."""

    line: int
    reason: str


@dataclass
class Chunk:
    """Up to ``rows`` rows of the file; ``done`` is the progress after it, in the source's
    units; ``malformed`` the lines skipped while reading it."""

    frame: pd.DataFrame
    done: int
    malformed: list[Malformed] = field(default_factory=list)


@dataclass
class ArrowChunk:
    """Up to ``rows`` rows of a CSV as read by the fast reader: its key columns as text, its
    feature columns as float64 (null: a missing value); ``done`` as in :class:`Chunk`."""

    table: pa.Table
    done: int


class NotPlain(Exception):  # noqa: N818 (a signal to the caller, not an error to report)
    """The fast reader met a row that only the pandas reader reads (and rejects)."""


@dataclass(frozen=True)
class TableSource:
    """One input file whose header was read: its columns, and how far a bar can count.

    ``total`` is the file's size in bytes for a CSV, its row count for Parquet (``unit``).
    """

    path: Path
    format: TableFormat
    columns: tuple[str, ...]
    total: int
    unit: Literal["bytes", "rows"]

    def chunks(self, keys: Sequence[str], features: Sequence[str], rows: int) -> Iterator[Chunk]:
        """The ``keys`` and ``features`` columns, ``rows`` rows at a time."""
        wanted = list(dict.fromkeys([*keys, *features]))
        if self.format == PARQUET:
            yield from _parquet_chunks(self.path, wanted, rows)
        else:
            yield from _csv_chunks(self.path, keys, features, wanted, rows)

    def arrow_chunks(
        self, keys: Sequence[str], features: Sequence[str], rows: int
    ) -> Iterator[ArrowChunk]:
        """A CSV's ``keys`` and ``features`` columns, ``rows`` rows at a time, as Arrow
        tables; :class:`NotPlain` at the first row the pandas reader must read instead."""
        assert self.format == CSV
        import pyarrow as pa

        wanted = list(dict.fromkeys([*keys, *features]))
        types = {name: pa.float64() for name in features}
        types.update({k: pa.string() for k in keys if k not in types})
        try:
            yield from _arrow_csv_chunks(self.path, wanted, types, rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise NotPlain(str(exc)) from exc


def open_table(path: Path) -> TableSource:
    """The file at ``path`` with its header read; a ConfigError if it cannot be read."""
    kind = table_format(path)
    if not path.exists():
        raise ConfigError(f"input {path}: no such file")
    if not path.is_file():
        raise ConfigError(f"input {path}: not a file")
    try:
        if kind == PARQUET:
            return _parquet_source(path)
        return _csv_source(path)
    except ConfigError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"input {path}: cannot read it as {kind.upper()}: {reason}") from exc


def _csv_source(path: Path) -> TableSource:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        try:
            header = next(csv.reader(handle), None)
        except csv.Error as exc:
            raise ValueError(str(exc)) from exc
    if not header:
        raise ConfigError(f"input {path}: the file is empty (a CSV needs a header line)")
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise ConfigError(f"input {path}: the header names {', '.join(twice)} more than once")
    return TableSource(path, CSV, tuple(header), path.stat().st_size, "bytes")


def _arrow_csv_chunks(
    path: Path, wanted: list[str], types: dict[str, pa.DataType], rows: int
) -> Iterator[ArrowChunk]:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    read = pa_csv.ReadOptions(block_size=ARROW_BLOCK_BYTES, use_threads=True)
    convert = pa_csv.ConvertOptions(
        column_types=types,
        include_columns=wanted,
        null_values=list(MISSING),
        strings_can_be_null=False,  # a key is copied as it was written, "" and "NA" too
        quoted_strings_can_be_null=False,
    )
    with pa.OSFile(str(path)) as source:
        reader = pa_csv.open_csv(source, read_options=read, convert_options=convert)
        pending: list[pa.RecordBatch] = []
        held = 0
        for batch in reader:
            pending.append(batch)
            held += batch.num_rows
            while held >= rows:
                table = pa.Table.from_batches(pending, reader.schema)
                yield ArrowChunk(table.slice(0, rows), source.tell())
                rest = table.slice(rows)
                pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield ArrowChunk(pa.Table.from_batches(pending, reader.schema), source.tell())


def _csv_chunks(
    path: Path, keys: Sequence[str], features: Sequence[str], wanted: list[str], rows: int
) -> Iterator[Chunk]:
    import pandas as pd

    text_keys = {k: str for k in keys if k not in features}
    with path.open("rb") as handle:
        reader = pd.read_csv(
            handle,
            dtype=text_keys,
            keep_default_na=False,
            na_values={name: list(MISSING) for name in features},
            chunksize=rows,
            on_bad_lines="warn",
        )
        with reader:
            while True:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", pd.errors.ParserWarning)
                    try:
                        frame = next(reader)
                    except StopIteration:
                        return
                    except (ValueError, UnicodeDecodeError) as exc:
                        reason = str(exc).strip().splitlines()[0]
                        raise ConfigError(f"input {path}: cannot read it as CSV: {reason}") from exc
                yield Chunk(frame[wanted], handle.tell(), _malformed(caught))


def _malformed(caught: list[warnings.WarningMessage]) -> list[Malformed]:
    out: list[Malformed] = []
    for warning in caught:
        for text in str(warning.message).splitlines():
            found = _SKIPPED.match(text.strip())
            if found:
                out.append(Malformed(int(found.group(1)), found.group(2)))
    return out


def _parquet_source(path: Path) -> TableSource:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as reader:
        names = tuple(reader.schema_arrow.names)
        total = reader.metadata.num_rows
    return TableSource(path, PARQUET, names, total, "rows")


def _parquet_chunks(path: Path, wanted: list[str], rows: int) -> Iterator[Chunk]:
    import pyarrow.parquet as pq

    done = 0
    with pq.ParquetFile(path) as reader:
        for batch in reader.iter_batches(batch_size=rows, columns=wanted):
            frame = batch.to_pandas()
            done += len(frame)
            yield Chunk(frame[wanted], done)
