"""Arrow columns to numpy arrays and back, through their buffers.

pyarrow's own conversions (``Array.to_numpy``, ``pyarrow.array``) import pandas the first time
they run, to check whether they were handed a pandas object: about half a second that the
fast batch path, which never builds a DataFrame, need not pay. These functions build the
same values from the arrays' buffers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

DICTIONARY_MAX = 65_536  # distinct labels written as a dictionary


def floats(column: pa.ChunkedArray) -> np.ndarray:
    """A float64 column as a numpy array, a null (a missing value) as NaN."""
    parts: list[np.ndarray] = []
    for chunk in column.chunks:
        size, offset = len(chunk), chunk.offset
        validity, data = chunk.buffers()
        values = np.frombuffer(data, np.float64, count=offset + size)[offset:]
        if chunk.null_count:
            bits = np.frombuffer(validity, np.uint8)
            valid = np.unpackbits(bits, count=offset + size, bitorder="little")[offset:]
            values = np.where(valid.astype(bool), values, np.nan)
        parts.append(values)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, np.float64)


def float_array(values: np.ndarray) -> pa.Array:
    """A float64 Arrow array of ``values``, NaN as null (as pandas hands a NaN to Arrow)."""
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.float64)
    missing = np.isnan(values)
    validity = None
    if missing.any():
        validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(
        pa.float64(), len(values), [validity, pa.py_buffer(values)], int(missing.sum())
    )


def texts(values: Sequence[str]) -> pa.Array:
    """A string Arrow array of ``values``."""
    import pyarrow as pa

    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, np.int32)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(encoded), buffers)


def label_texts(labels: list[Any]) -> pa.Array:
    """The labels as text, each as ``str`` writes it: a dictionary array over the distinct
    labels (a model has a few classes), coded through a dict (no numpy array of objects)."""
    import pyarrow as pa

    distinct = dict.fromkeys(labels)
    if len(distinct) > DICTIONARY_MAX:
        return texts([str(v) for v in labels])
    for code, label in enumerate(distinct):
        distinct[label] = code
    codes = np.fromiter(map(distinct.__getitem__, labels), np.int32, count=len(labels))
    return pa.DictionaryArray.from_arrays(
        pa.Array.from_buffers(pa.int32(), len(codes), [None, pa.py_buffer(codes)]),
        texts([str(v) for v in distinct]),
    )
