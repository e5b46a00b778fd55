"""The image input kind: encoded images in, the tensor the model was trained on out.

:class:`ImagePreprocessing` is the one preprocessing function of image models: training
calls :meth:`ImagePreprocessing.tensor` on every image it fits and evaluates on, and serving
calls it on every image it scores. Its settings (size, colour mode, normalisation, tensor
layout) are stored in the model's ``meta.json``, so that a served version preprocesses
exactly as it was trained.

:func:`open_image` is the one decoder, with the rules every image must pass: it is a
format Pillow reads, not truncated, not animated, of a colour mode the preprocessing can
convert, and within the pixel limit (:func:`limit_pixels`; a decompression bomb is
refused before its pixels are decoded). A JPEG is decoded at a reduced scale when the model
wants a smaller image (Pillow's draft mode), which is most of the cost of a large photo.

Protocols decode their request layouts into :class:`Images` (base64 text, a data URI, or
raw bytes per image) and call :meth:`ImageSpec.validate`, which returns the float32 batch
the model scores or raises an :class:`InvalidImageError` naming the field and row.
"""

from __future__ import annotations

import binascii
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from modelyard.errors import BatchTooLargeError, EmptyBatchError, FeatureError

if TYPE_CHECKING:
    from PIL import Image as PILImage

IMAGE = "image"
FLAT = "flat"  # (n, height * width * channels), row-major pixels: scikit-learn models
NCHW = "nchw"  # (n, channels, height, width): convolutional networks
LAYOUTS = (FLAT, NCHW)
MODES = {"L": 1, "RGB": 3}  # what a model may be trained on, and its channel count
# Colour modes Pillow converts to L and RGB without guessing; anything else (CMYK, 16-bit
# and float images, ...) is refused with its name.
READABLE_MODES = frozenset({"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "YCbCr"})
# Pillow's own default, kept when nothing else is configured.
DEFAULT_MAX_PIXELS = 89_478_485
DATA_URI_PREFIX = "data:"
IMAGE_FIELD = "image_data"


class InvalidImageError(FeatureError):
    """An image that cannot be scored: not base64, not an image, truncated, too large, ..."""


# --- decoding ---------------------------------------------------------------------------------
def limit_pixels(max_pixels: int) -> None:
    """Set the process's pixel limit (Pillow's ``MAX_IMAGE_PIXELS``).

    Pillow warns between one and two times the limit and raises above it; the warning is
    made an error here too, so that an image over the limit is refused, never decoded.
    Services call this once at start (the limit is process-wide, as Pillow's is).
    """
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def image_bytes(item: Any, field: str, row: int | None = None) -> bytes:
    """The encoded image in one request item: raw bytes, or base64 text (data URI allowed)."""
    if isinstance(item, bytes | bytearray | memoryview):
        data = bytes(item)
    elif isinstance(item, str):
        text = item
        if text.startswith(DATA_URI_PREFIX):
            header, sep, text = text.partition(",")
            if not sep or not header.endswith(";base64"):
                raise InvalidImageError(
                    "a data URI must be base64: data:image/...;base64,...", field, row
                )
        try:
            data = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidImageError(f"invalid base64: {exc}", field, row) from exc
    else:
        raise InvalidImageError(
            f"expected base64 image data as a string, got {_type_name(item)}", field, row
        )
    if not data:
        raise InvalidImageError("the image is empty", field, row)
    return data


def open_image(
    data: bytes,
    field: str,
    row: int | None = None,
    draft: tuple[str, tuple[int, int]] | None = None,
) -> PILImage.Image:
    """Decode ``data`` (fully, so that a truncated file fails here) under the rules above.

    ``draft`` (mode, size) lets a JPEG decode at the smallest scale still at least ``size``.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(_bomb_reason(exc), field, row) from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError(
            f"not an image: the {len(data)} bytes are in no format Pillow reads", field, row
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(f"cannot read the image: {exc}", field, row) from exc
    width, height = image.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise InvalidImageError(
            f"the image is {width}x{height} = {width * height} pixels, over the limit of "
            f"{limit} pixels",
            field,
            row,
        )
    frames = getattr(image, "n_frames", 1)
    if getattr(image, "is_animated", False) and frames > 1:
        raise InvalidImageError(
            f"animated images are not supported ({image.format}, {frames} frames); send one frame",
            field,
            row,
        )
    if image.mode not in READABLE_MODES:
        raise InvalidImageError(
            f"image mode {image.mode!r} is not supported; send an 8-bit greyscale, palette, "
            "RGB or RGBA image",
            field,
            row,
        )
    if draft is not None and image.format == "JPEG":
        image.draft(*draft)
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(
            f"truncated or corrupt {image.format} image: {exc}", field, row
        ) from exc
    return image


def _bomb_reason(exc: Exception) -> str:
    """Pillow's refusal, with the one limit that is configured (it names twice that too)."""
    from PIL import Image

    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{found.group(1)} pixels" if found else "more pixels than that"
    return (
        f"the image has {size}, over the limit of {Image.MAX_IMAGE_PIXELS} pixels "
        "(a possible decompression bomb)"
    )


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- preprocessing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImagePreprocessing:
    """Decoded image → model tensor: convert the mode, resize, scale to [0, 1], normalise.

    ``mean`` and ``std`` hold one value per channel; the result is float32 in ``layout``.
    """

    width: int
    height: int
    mode: str = "RGB"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    layout: str = FLAT

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode: {self.mode!r} is not one of {sorted(MODES)}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout: {self.layout!r} is not one of {list(LAYOUTS)}")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"size: {self.width}x{self.height} is not a positive size")
        channels = MODES[self.mode]
        for name in ("mean", "std"):
            values = tuple(float(v) for v in getattr(self, name))
            if len(values) == 1:
                values *= channels
            if len(values) != channels:
                raise ValueError(f"{name}: expected 1 or {channels} values for mode {self.mode}")
            object.__setattr__(self, name, values)
        if any(s <= 0 for s in self.std):
            raise ValueError("std: every value must be positive")
        object.__setattr__(
            self, "_scale", (1.0 / (255.0 * np.asarray(self.std))).astype(np.float32)
        )
        object.__setattr__(
            self, "_shift", (np.asarray(self.mean) / np.asarray(self.std)).astype(np.float32)
        )

    @property
    def channels(self) -> int:
        return MODES[self.mode]

    @property
    def tensor_shape(self) -> tuple[int, ...]:
        """The shape of one image's tensor (without the batch axis)."""
        if self.layout == NCHW:
            return (self.channels, self.height, self.width)
        return (self.height * self.width * self.channels,)

    @property
    def draft(self) -> tuple[str, tuple[int, int]]:
        """What :func:`open_image` may reduce a JPEG to before decoding it."""
        return (self.mode, (self.width, self.height))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ImagePreprocessing:
        """From training parameters or ``meta.json``: ``size`` [width, height] or width/height."""
        size = params.get("size")
        if size is not None:
            if isinstance(size, int):
                width = height = int(size)
            else:
                width, height = (int(v) for v in size)
        else:
            width, height = int(params["width"]), int(params["height"])
        return cls(
            width=width,
            height=height,
            mode=str(params.get("mode", "RGB")),
            mean=tuple(params.get("mean") or (0.0,)),
            std=tuple(params.get("std") or (1.0,)),
            layout=str(params.get("layout", FLAT)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "mode": self.mode,
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": self.layout,
        }

    def tensor(self, image: PILImage.Image, out: np.ndarray | None = None) -> np.ndarray:
        """The model's float32 tensor for one decoded image (written into ``out`` if given)."""
        from PIL import Image

        if image.mode != self.mode:
            if image.mode in ("LA", "PA", "RGBA", "P") and self.mode == "RGB":
                image = image.convert("RGBA").convert("RGB")
            else:
                image = image.convert(self.mode)
        size = (self.width, self.height)
        if image.size != size:
            # reducing_gap: shrink by whole factors first (Image.reduce), then resample
            image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        pixels = np.asarray(image, dtype=np.float32).reshape(self.height, self.width, self.channels)
        pixels = pixels * self._scale - self._shift  # type: ignore[attr-defined]
        if self.layout == NCHW:
            pixels = pixels.transpose(2, 0, 1)
        if out is None:
            return np.ascontiguousarray(pixels).reshape(self.tensor_shape)
        out[...] = pixels.reshape(self.tensor_shape)
        return out

    def from_bytes(
        self, data: bytes, field: str = IMAGE_FIELD, row: int | None = None
    ) -> np.ndarray:
        """Decode and preprocess one encoded image (training's loader uses this too)."""
        return self.tensor(open_image(data, field, row, self.draft))


# --- the layout protocols decode into, and the kind ---------------------------------------
@dataclass(slots=True)
class Images:
    """Encoded images from a request: base64 text (data URI allowed) or raw bytes each.

    ``field`` is where they stood (``image_data``, ``images``, ``instances``, ...);
    ``single`` says the request sent one image rather than a list of them.
    """

    items: Sequence[Any]
    field: str = IMAGE_FIELD
    single: bool = False


@dataclass(frozen=True)
class ImageSpec:
    """The image input kind of one model: its preprocessing and class count."""

    preprocessing: ImagePreprocessing
    kind: ClassVar[str] = IMAGE
    blocking: ClassVar[bool] = True  # decoding takes milliseconds: run it off the event loop

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> ImageSpec:
        return cls(ImagePreprocessing.from_params(meta["preprocessing"]))

    def meta(self) -> dict[str, Any]:
        return {"input_kind": IMAGE, "preprocessing": self.preprocessing.as_dict()}

    def describe(self) -> dict[str, Any]:
        """JSON Schema of one input: base64 image data and the number of classes to return."""
        return {
            "type": "object",
            "required": [IMAGE_FIELD],
            "properties": {
                IMAGE_FIELD: {
                    "type": "string",
                    "contentEncoding": "base64",
                    "description": "A JPEG, PNG, GIF (one frame), BMP or WebP image, base64 "
                    "(a data: URI is accepted); resized to "
                    f"{self.preprocessing.width}x{self.preprocessing.height} "
                    f"{self.preprocessing.mode} by the server",
                },
                "top_k": {"type": "integer", "minimum": 1, "default": 5},
            },
        }

    def blank(self, rows: int = 1) -> np.ndarray:
        """A batch of mid-grey images' tensors: the warm-up input."""
        from PIL import Image

        p = self.preprocessing
        grey = Image.new(p.mode, (p.width, p.height), 128 if p.mode == "L" else (128, 128, 128))
        one = p.tensor(grey)
        return np.repeat(one[None, ...], rows, axis=0)

    def validate(self, inputs: Any, limit: int) -> np.ndarray:
        """The (n, *tensor_shape) float32 batch of ``inputs``, or the error naming the problem."""
        if not isinstance(inputs, Images):
            # where the rows stood in this protocol's request (records, instances, inputs...)
            field_name = getattr(inputs, "field", None) or IMAGE_FIELD
            raise FeatureError(
                "this model classifies images: send base64 image data (or an image/* body), "
                "not features",
                field_name,
            )
        items = inputs.items
        field_name = inputs.field
        if not isinstance(items, list | tuple):
            raise InvalidImageError(
                f"expected a list of images, got {_type_name(items)}", field_name
            )
        if not items:
            raise EmptyBatchError("the batch is empty; send at least one image", field=field_name)
        if len(items) > limit:
            raise BatchTooLargeError(len(items), limit, field_name)
        p = self.preprocessing
        out = np.empty((len(items), *p.tensor_shape), dtype=np.float32)
        for i, item in enumerate(items):
            row = None if inputs.single else i
            p.tensor(
                open_image(image_bytes(item, field_name, row), field_name, row, p.draft), out[i]
            )
        return out
