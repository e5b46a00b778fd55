"""Writing the output and the rejects file chunk by chunk, in place only when complete.

The output's CSV is written by pyarrow (text quoted, numbers in their shortest form: ten
times faster than pandas, which formats each float in Python), from a DataFrame or from the
Arrow table the fast reader's chunks give; the rejects file, whose columns hold the values as
they were read, text and numbers mixed, by pandas.

Each file is written to a hidden ``.<name>.partial`` beside it and renamed over the final
name when the run finishes, so a run that fails or is stopped never leaves a truncated file
that looks whole. :func:`check_targets` refuses an existing output or rejects file (unless
``overwrite``) before any work; the rejects file is created only when a row is rejected
(and one an earlier run left is removed when a run ends with none).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from modelyard.batch.tables import PARQUET, TableFormat, table_format
from modelyard.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def default_rejects(output: Path) -> Path:
    """``scores.csv`` → ``scores.rejects.csv`` (always CSV: it is read by people)."""
    return output.with_name(f"{output.stem}.rejects.csv")


def check_targets(
    output: Path, rejects: Path, overwrite: bool, inputs: tuple[Path, ...] = ()
) -> None:
    """Refuse to write over an input, into a missing folder, or over an existing file
    unless ``overwrite``. A ConfigError naming the path."""
    table_format(output, "output")
    if rejects.suffix.lower() != ".csv":
        raise ConfigError(f"rejects {rejects}: the rejects file is a CSV; name it *.csv")
    resolved = {p.resolve() for p in inputs}
    for what, path in (("output", output), ("rejects", rejects)):
        if path.resolve() in resolved:
            raise ConfigError(f"{what} {path} is the input file; name another")
        if not path.parent.is_dir():
            raise ConfigError(f"{what} {path}: the folder {path.parent} does not exist")
        if path.is_dir():
            raise ConfigError(f"{what} {path} is a folder; name a file")
        if path.exists() and not overwrite:
            raise ConfigError(f"{what} {path} exists; pass --overwrite to replace it")
    if output.resolve() == rejects.resolve():
        raise ConfigError(f"the output and the rejects file are both {output}")


@dataclass
class TableWriter:
    """Appends DataFrames to a CSV or Parquet file; :meth:`commit` puts it in place.

    ``columns`` are written as the header of a file that receives no rows at all.
    """

    path: Path
    columns: list[str]
    lazy: bool = False  # create the file only when a first frame comes (the rejects file)
    mixed: bool = False  # columns mix text and numbers (the rejects file): CSV through pandas
    format: TableFormat = field(init=False)
    rows: int = field(default=0, init=False)
    _handle: Any = field(default=None, init=False, repr=False)
    _parquet: Any = field(default=None, init=False, repr=False)
    _schema: Any = field(default=None, init=False, repr=False)
    _opened: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.format = table_format(self.path, "output")

    @property
    def partial(self) -> Path:
        return self.path.with_name(f".{self.path.name}.partial")

    @property
    def written(self) -> bool:
        """Whether the file exists (or will, on commit)."""
        return self._opened

    def write(self, frame: pd.DataFrame | pa.Table) -> None:
        """Append ``frame``: a DataFrame, or an Arrow table with the same columns."""
        rows = frame.num_rows if _is_arrow(frame) else len(frame)
        if rows == 0 and (self.lazy or self._opened):
            return
        if self.format == PARQUET:
            self._write_parquet(frame)
        else:
            self._write_csv(frame)
        self.rows += rows

    def _write_csv(self, frame: pd.DataFrame | pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        header = not self._opened
        if header:
            self._handle = self.partial.open("wb")
            self._opened = True
        table: pa.Table | None = frame if _is_arrow(frame) else None
        if table is None and not self.mixed:
            # a column of mixed types stays None: pandas writes it value by value
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowTypeError):
                table = pa.Table.from_pandas(frame, preserve_index=False)
        if table is not None:
            pa_csv.write_csv(table, self._handle, pa_csv.WriteOptions(include_header=header))
            return
        frame.to_csv(self._handle, index=False, header=header, lineterminator="\n")

    def _write_parquet(self, frame: pd.DataFrame | pa.Table) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._schema is None:
            inferred = (
                frame.schema
                if _is_arrow(frame)
                else pa.Schema.from_pandas(frame, preserve_index=False)
            )
            # a column with no value yet (all missing) would be typed null: make it text;
            # labels the fast path encodes as a dictionary are written as plain text
            self._schema = pa.schema([_plain_field(f) for f in inferred])
            self._parquet = pq.ParquetWriter(self.partial, self._schema)
            self._opened = True
        if _is_arrow(frame):
            table = frame.select(self._schema.names).cast(self._schema)
        else:
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        self._parquet.write_table(table)

    def commit(self) -> None:
        """Finish the file and rename it over ``path`` (an empty one with the header if no
        frame came, unless ``lazy``)."""
        if not self._opened and not self.lazy:
            import pandas as pd

            self.write(pd.DataFrame({c: pd.Series(dtype=object) for c in self.columns}))
        self._close()
        if self._opened:
            os.replace(self.partial, self.path)
        else:  # a lazy file with nothing to say: none left from an earlier run either
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def discard(self) -> None:
        """Close and remove the partial file (the run failed)."""
        self._close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None


def _plain_field(field: pa.Field) -> pa.Field:
    import pyarrow as pa

    if pa.types.is_null(field.type):
        return pa.field(field.name, pa.string())
    if pa.types.is_dictionary(field.type):
        return pa.field(field.name, field.type.value_type)
    return field


def _is_arrow(frame: object) -> TypeGuard[pa.Table]:
    """Whether ``frame`` is an Arrow table (else a DataFrame), without importing either."""
    return type(frame).__module__.startswith("pyarrow")
