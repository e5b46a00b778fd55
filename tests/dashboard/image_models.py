"""An image model for the "Try it" page's tests, served by a real ``modelyard serve``.

Two versions of a digits classifier (scikit-learn's 8x8 digits upscaled to 16x16 greyscale;
version 1 a weak LogisticRegression, version 2 a stronger one that ``champion`` names) are
compiled to ONNX, registered in a real MLflow server over its REST API, and written into the
API's model cache as the prepared folders a trained version carries: the API resolves the
references in MLflow and loads the versions from its cache, without training. A tabular
model (iris) is registered the same way for an API that serves no image model.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from modelyard.inference.prepare import image_meta, write_prepared
from modelyard.inputs.image import ImagePreprocessing, ImageSpec

PREPROCESSING = ImagePreprocessing(width=16, height=16, mode="L")
STRENGTH = {"1": 0.002, "2": 1.0}  # LogisticRegression's C per version: v1 is far weaker


@cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as 8-bit 8x8 pictures, and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    pixels = np.round(np.asarray(data.images) * (255.0 / 16.0)).astype(np.uint8)
    return pixels, np.asarray(data.target)


def digit_png(index: int, size: int = 16) -> bytes:
    """The ``index``-th digit of the data set as a PNG of ``size`` pixels square."""
    from PIL import Image

    image = Image.fromarray(_digits()[0][index], "L").resize(
        (size, size), Image.Resampling.BILINEAR
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def digit_label(index: int) -> str:
    return str(int(_digits()[1][index]))


@cache
def prepared(version: str) -> tuple[dict[str, Any], bytes]:
    """``meta.json`` and the ONNX graph (output ``probabilities``) of one version."""
    from PIL import Image
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    pixels, labels = _digits()
    x = np.stack([PREPROCESSING.tensor(Image.fromarray(p, "L")) for p in pixels])
    model = LogisticRegression(C=STRENGTH[version], max_iter=1000).fit(x, labels)
    graph = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
    assert "probabilities" in [o.name for o in graph.graph.output]
    meta = image_meta(ImageSpec(PREPROCESSING), model.classes_, "sklearn")
    return meta, graph.SerializeToString()


@cache
def iris_prepared() -> tuple[dict[str, Any], bytes | None]:
    """A tabular model (iris, LogisticRegression) as training prepares it."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from modelyard.inference.prepare import sklearn_prepared
    from modelyard.inputs.tabular import FeatureSchema

    data = load_iris()
    schema = FeatureSchema(("sepal_length", "sepal_width", "petal_length", "petal_width"))
    model = LogisticRegression(max_iter=500).fit(data.data, data.target)
    example = [dict(zip(schema.names, map(float, data.data[0]), strict=True))]
    return sklearn_prepared(model, schema, example)


def register_digits(tracking_uri: str, name: str, home: Path) -> None:
    """Versions 1 and 2 of the digits classifier as ``name``, ``champion`` → 2."""
    register(tracking_uri, name, home, [prepared("1"), prepared("2")])


def register(
    tracking_uri: str,
    name: str,
    home: Path,
    versions: list[tuple[dict[str, Any], bytes | None]],
) -> None:
    """Register ``versions`` of ``name`` (1, 2, ...; ``champion`` → the last) and put them in
    the model cache of an API whose MODELYARD_HOME is ``home``."""
    with httpx.Client(base_url=f"{tracking_uri}/api/2.0/mlflow/", timeout=30) as mlflow:
        experiment = _ok(mlflow.post("experiments/create", json={"name": name}))
        _ok(mlflow.post("registered-models/create", json={"name": name}))
        for number, (meta, onnx) in enumerate(versions, start=1):
            version = str(number)
            run = _ok(mlflow.post("runs/create", json=experiment))["run"]["info"]
            # never downloaded: the API finds the version in its cache
            source = f"{run['artifact_uri']}/model"
            body = {"name": name, "source": source, "run_id": run["run_id"]}
            created = _ok(mlflow.post("model-versions/create", json=body))
            assert created["model_version"]["version"] == version
            target = home / "models" / name / version
            target.mkdir(parents=True, exist_ok=True)
            write_prepared(target, meta, onnx)
        alias = {"name": name, "alias": "champion", "version": str(len(versions))}
        _ok(mlflow.post("registered-models/alias", json=alias))


def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, f"{response.request.url}: {response.text}"
    return response.json()


def write_samples(root: Path, indexes: list[int]) -> list[str]:
    """``root/<label>/<index>.png`` for each digit; their sample names, in order."""
    names = []
    for index in indexes:
        label = digit_label(index)
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"{index:04d}.png").write_bytes(digit_png(index))
        names.append(f"{label}/{index:04d}.png")
    return names
