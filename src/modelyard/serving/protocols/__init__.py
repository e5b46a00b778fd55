"""The protocols the API speaks, one pure codec each: decode a request body into an input
kind's inputs, encode a :class:`~modelyard.serving.engine.Prediction` into the answer, and
render an :class:`~modelyard.serving.errors.ApiError` in the protocol's error shape.
Nothing here does I/O; the routes in :mod:`modelyard.serving.routes` wire them to paths."""
