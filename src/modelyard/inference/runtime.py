"""Scoring a compiled model with ONNX Runtime: no scikit-learn, no pandas in the process."""

from __future__ import annotations

from typing import Any

import numpy as np

# What float32 sums of a few hundred scores hold (the graph is checked to agree to 1e-5).
FLOAT32_DECIMALS = 6


class OnnxModel:
    """An ONNX graph in an ONNX Runtime session, scoring float64 matrices.

    One intra-op thread: the unit of parallelism is the server process (``MODELYARD_API_WORKERS``)
    and the batcher, and a second thread per call would only contend with request handling.
    ONNX Runtime releases the GIL while it runs, so a call in a worker thread does not stall
    the event loop.
    """

    def __init__(self, onnx_bytes: bytes, input_dtype: str, output: str) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._session: Any = ort.InferenceSession(
            onnx_bytes, options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        names = [o.name for o in self._session.get_outputs()]
        self._output = output if output in names else names[0]
        self._dtype = np.dtype(input_dtype)
        self.returns_probabilities = self._output == "probabilities"

    def run(self, matrix: np.ndarray) -> np.ndarray:
        """The graph's chosen output for an (n, features) matrix (probabilities as float64)."""
        feed = np.ascontiguousarray(matrix, dtype=self._dtype)
        (raw,) = self._session.run([self._output], {self._input: feed})
        out = np.asarray(raw)
        if not self.returns_probabilities:
            return out
        if out.dtype == np.float32 or _holds_float32(out):
            return float32_probabilities(out)
        return out.astype(np.float64, copy=False)


def float32_probabilities(out: np.ndarray) -> np.ndarray:
    """Class probabilities computed in float32, as the float64 values they stand for.

    A tree ensemble sums its trees' votes in float32 (a forest answers 0.6799999 and
    0.3200001 where scikit-learn says 0.68 and 0.32), and a gradient-boosted graph that casts
    its float32 scores to float64 answers float32 digits as if they were float64 ones
    (0.9999555349349976). Each row is normalised in float64 and kept to the
    ``FLOAT32_DECIMALS`` decimals such a sum holds: the values scikit-learn gives, to 1e-6.
    """
    wide = out.astype(np.float64)
    totals = wide.sum(axis=1, keepdims=True)
    np.divide(wide, totals, out=wide, where=totals > 0)
    return np.round(wide, FLOAT32_DECIMALS)


def _holds_float32(out: np.ndarray) -> bool:
    """Whether every float64 value is a float32 one: scores computed in float32, cast back."""
    return bool(np.array_equal(out, out.astype(np.float32).astype(np.float64)))
