"""The image input kind: the one decoder's rules and the one preprocessing function."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from modelyard.errors import BatchTooLargeError, EmptyBatchError, FeatureError
from modelyard.inputs import kind_from_meta
from modelyard.inputs.image import (
    ImagePreprocessing,
    Images,
    ImageSpec,
    InvalidImageError,
    image_bytes,
    open_image,
)
from modelyard.inputs.tabular import Records

PREP = ImagePreprocessing(4, 2, "RGB", (0.5,), (0.25,), "nchw")
SPEC = ImageSpec(PREP)


def encoded(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def test_the_kind_is_rebuilt_from_meta_json() -> None:
    assert kind_from_meta(SPEC.meta()) == SPEC
    assert SPEC.meta()["preprocessing"]["mean"] == [0.5, 0.5, 0.5]
    assert SPEC.describe()["required"] == ["image_data"]


def test_preprocessing_converts_resizes_and_normalises() -> None:
    red = Image.new("RGB", (40, 20), (255, 0, 0))
    tensor = PREP.tensor(red)
    assert tensor.shape == (3, 2, 4) and tensor.dtype == np.float32
    np.testing.assert_allclose(tensor[0], (1.0 - 0.5) / 0.25)
    np.testing.assert_allclose(tensor[1:], (0.0 - 0.5) / 0.25)
    flat = ImagePreprocessing(4, 2, "L", layout="flat")
    grey = flat.tensor(Image.new("RGBA", (8, 4), (255, 255, 255, 255)))
    assert grey.shape == (8,)
    np.testing.assert_allclose(grey, 1.0, atol=1e-6)


def test_every_encoding_of_the_same_image_gives_the_same_tensor() -> None:
    png = encoded(Image.new("RGB", (8, 4), (10, 200, 30)))
    text = base64.b64encode(png).decode()
    batch = SPEC.validate(Images([png, text, "data:image/png;base64," + text]), 3)
    assert batch.shape == (3, 3, 2, 4)
    np.testing.assert_array_equal(batch[0], batch[1])
    np.testing.assert_array_equal(batch[0], batch[2])


def test_a_large_jpeg_is_decoded_at_a_reduced_scale() -> None:
    photo = encoded(Image.new("RGB", (640, 480), (90, 90, 90)), "JPEG")
    image = open_image(photo, "image_data", draft=("RGB", (32, 32)))
    assert image.size == (80, 60)  # draft: the smallest 1/8 scale at least 32x32


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("!!!", "invalid base64"),
        ("data:image/png,abc", "a data URI must be base64"),
        (5, "expected base64 image data as a string, got a number"),
        (b"", "the image is empty"),
        (b"not an image at all", "not an image: the 19 bytes are in no format Pillow reads"),
    ],
)
def test_bad_items_are_named(item: object, message: str) -> None:
    if isinstance(item, str) and not item.startswith("!"):
        with pytest.raises(InvalidImageError, match=message):
            image_bytes(item, "image_data")
    with pytest.raises(InvalidImageError, match=message) as caught:
        SPEC.validate(Images([b"", item][1:], field="images"), 5)
    assert caught.value.field == "images" and caught.value.row == 0


def test_truncated_animated_unsupported_and_oversized_images_are_refused() -> None:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    jpeg = encoded(Image.fromarray(noise), "JPEG")
    with pytest.raises(InvalidImageError, match="truncated or corrupt JPEG image"):
        open_image(jpeg[: len(jpeg) // 2], "x")
    frames = [Image.new("RGB", (4, 4), (80 * i, 0, 0)) for i in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(
        InvalidImageError, match=r"animated images are not supported \(GIF, 3 frames\)"
    ):
        open_image(gif.getvalue(), "x")
    cmyk = encoded(Image.new("CMYK", (4, 4)), "JPEG")
    with pytest.raises(InvalidImageError, match="image mode 'CMYK' is not supported"):
        open_image(cmyk, "x")
    big = encoded(Image.new("1", (20000, 20000)), "PNG")
    with pytest.raises(InvalidImageError, match=r"has 400000000 pixels, over the limit of \d+"):
        open_image(big, "x")


def test_batches_and_other_kinds_of_input() -> None:
    with pytest.raises(EmptyBatchError):
        SPEC.validate(Images([], field="images"), 5)
    png = encoded(Image.new("L", (3, 3)))
    with pytest.raises(BatchTooLargeError):
        SPEC.validate(Images([png, png, png], field="images"), 2)
    with pytest.raises(FeatureError, match="this model classifies images") as caught:
        SPEC.validate(Records([{"a": 1.0}], "instances"), 5)
    assert caught.value.field == "instances"
    blank = SPEC.blank(2)
    assert blank.shape == (2, 3, 2, 4)
