"""Turning an image file into the tensor the model receives, the same documented way every time.

Any mode (RGB, L, LA, RGBA, P, CMYK, I;16, ...) becomes 8-bit RGB (alpha composited on black,
16-bit scaled down), then the profile's resize: ``stretch`` resizes straight to size x size with
Pillow's bilinear filter; ``shorter-crop`` resizes the shorter side to size * 256/224 and
centre-crops. Pixels become float32 in [0, 1], CHW, in the profile's channel order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from validator.errors import DataError
from validator.vocab import ChannelOrder, ResizeMode

# Decompression bombs: the decoded size is checked from the header before decoding. Bytes per
# pixel of the widest buffer each mode needs on the way to RGB: Pillow keeps RGB, RGBA, CMYK,
# YCbCr, LAB, HSV, I and F in 4 bytes a pixel, LA and PA too; 16- and 32-bit modes become a
# float64 array in to_rgb (8 bytes); 1, L and P take one byte but are converted to RGB (4).
MAX_DECODED_BYTES = 256 * 2**20
_WIDE_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
Image.MAX_IMAGE_PIXELS = MAX_DECODED_BYTES // 4  # Pillow's own guard, for other callers


def decoded_bytes(mode: str, size: tuple[int, int]) -> int:
    """The largest buffer (bytes) that turning an image of ``mode`` and ``size`` into RGB needs."""
    width, height = size
    return width * height * (8 if mode in _WIDE_MODES else 4)


def check_size(image: Image.Image, path: Path) -> None:
    """DataError when decoding ``image`` (header read, pixels not yet) would need more than
    MAX_DECODED_BYTES."""
    need = decoded_bytes(image.mode, image.size)
    if need > MAX_DECODED_BYTES:
        width, height = image.size
        raise DataError(
            f"{path}: {width} x {height} {image.mode} image would need {need / 2**20:.0f} MiB "
            f"to decode, more than the {MAX_DECODED_BYTES // 2**20} MiB allowed"
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any Pillow mode."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if array.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def resize(image: Image.Image, size: int, mode: ResizeMode) -> Image.Image:
    """Resize an RGB image to ``size`` x ``size`` by the profile's documented rule."""
    if mode is ResizeMode.STRETCH:
        return image.resize((size, size), Image.Resampling.BILINEAR)
    short = round(size * 256 / 224)
    w, h = image.size
    scale = short / min(w, h)
    image = image.resize(
        (max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BILINEAR
    )
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def to_tensor(image: Image.Image, order: ChannelOrder) -> np.ndarray:
    """CHW float32 in [0, 1] in ``order``."""
    array = np.asarray(image, dtype=np.float32) / np.float32(255.0)
    if order is ChannelOrder.BGR:
        array = array[:, :, ::-1]
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def load_image(path: Path, size: int, mode: ResizeMode, order: ChannelOrder) -> np.ndarray:
    """Decode ``path`` into a model-ready CHW tensor; DataError names the file on any failure."""
    try:
        with Image.open(path) as image:
            check_size(image, path)
            image.load()
            return to_tensor(resize(to_rgb(image), size, mode), order)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from None
