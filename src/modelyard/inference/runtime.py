"""Scoring a compiled model with ONNX Runtime: no scikit-learn, no pandas in the process."""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT32_DECIMALS = 7


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
        if out.dtype == np.float32:
            # A tree ensemble sums in float32: 100 votes of 0.01 make 0.9999993. Normalise each
            # row in float64 and keep the 7 decimals float32 holds: 1.0 and 0.97, as sklearn.
            wide = out.astype(np.float64)
            totals = wide.sum(axis=1, keepdims=True)
            np.divide(wide, totals, out=wide, where=totals > 0)
            return np.round(wide, FLOAT32_DECIMALS)
        return out.astype(np.float64, copy=False)
