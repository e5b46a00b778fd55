"""Images for the image-serving tests: good digits and every kind of bad image.

Good pictures come from :func:`serving_models.digit_image` (scikit-learn's digits, so the
fixture models classify them); the bad ones are made here, in memory, each breaking one
rule of :func:`modelyard.inputs.image.open_image`.
"""

from __future__ import annotations

import base64
import io
import zlib

from serving_models import digit_image

# Small limits for the `digits_limited` client.
SMALL_IMAGE_BYTES = 4096
SMALL_TOP_K = 3
BOMB_SIDE = 20_000


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{b64(data)}"


def png(digit: int, **kwargs: object) -> bytes:
    return digit_image(digit, "PNG", **kwargs)  # type: ignore[arg-type]


def jpeg(digit: int, **kwargs: object) -> bytes:
    return digit_image(digit, "JPEG", **kwargs)  # type: ignore[arg-type]


def decompression_bomb(side: int = BOMB_SIDE) -> bytes:
    """A ``side`` x ``side`` 1-bit black PNG, written without ever holding its pixels: each
    row is a filter byte and ``side / 8`` zero bytes, compressed as one stream."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([1, 0, 0, 0, 0])  # 1 bit, greyscale
    row = bytes(1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def truncated_png() -> bytes:
    whole = png(3)
    return whole[: len(whole) * 2 // 3]


def cmyk_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("CMYK", (32, 32), (0, 0, 0, 0)).save(out, "JPEG")
    return out.getvalue()


def png_16_bit() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("I;16", (32, 32), 1000).save(out, "PNG")
    return out.getvalue()


def animated_gif() -> bytes:
    from PIL import Image

    frames = [Image.new("L", (32, 32), shade) for shade in (0, 128, 255)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


BAD_IMAGES = (
    "not_an_image",
    "truncated",
    "decompression_bomb",
    "cmyk_jpeg",
    "png_16_bit",
    "animated_gif",
)


def bad_images(bomb: bytes) -> dict[str, tuple[bytes, str]]:
    """Each of :data:`BAD_IMAGES` → (its bytes, a phrase the refusal must contain)."""
    return {
        "not_an_image": (b"this is plain text, not a picture", "not an image"),
        "truncated": (truncated_png(), "truncated"),
        "decompression_bomb": (bomb, "over the limit"),
        "cmyk_jpeg": (cmyk_jpeg(), "mode 'CMYK'"),
        "png_16_bit": (png_16_bit(), "mode 'I;16'"),
        "animated_gif": (animated_gif(), "animated"),
    }
