"""The documented preprocessing: any mode to RGB, resize, [0, 1], channel order."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from validator.data.images import decoded_bytes, load_image
from validator.errors import DataError
from validator.vocab import ChannelOrder, ResizeMode

RED = (255, 0, 0)


def write(tmp_path: Path, image: Image.Image, name: str) -> Path:
    path = tmp_path / name
    image.save(path)
    return path


@pytest.mark.parametrize(
    "make",
    [
        lambda: Image.new("RGB", (50, 30), RED),
        lambda: Image.new("RGBA", (50, 30), (*RED, 255)),
        lambda: Image.new("P", (50, 30), 0).convert("RGB").quantize(),
        lambda: Image.new("CMYK", (50, 30), (0, 255, 255, 0)),
    ],
    ids=["rgb", "rgba", "palette", "cmyk"],
)
def test_any_mode_becomes_a_red_bgr_tensor(tmp_path: Path, make: object) -> None:
    image = make()  # type: ignore[operator]
    suffix = ".jpg" if image.mode == "CMYK" else ".png"
    tensor = load_image(
        write(tmp_path, image, "x" + suffix), 224, ResizeMode.STRETCH, ChannelOrder.BGR
    )
    assert tensor.shape == (3, 224, 224) and tensor.dtype == np.float32
    if image.mode != "P":
        assert tensor[2].mean() > 0.9 and tensor[0].mean() < 0.1  # BGR: red is the last plane


def test_sixteen_bit_grey_is_scaled_to_eight_bits(tmp_path: Path) -> None:
    array = np.full((20, 20), 65535, dtype=np.uint16)
    path = write(tmp_path, Image.fromarray(array), "g16.png")
    tensor = load_image(path, 224, ResizeMode.STRETCH, ChannelOrder.RGB)
    assert tensor.min() == pytest.approx(1.0)


def test_rgb_order_keeps_red_first(tmp_path: Path) -> None:
    path = write(tmp_path, Image.new("RGB", (8, 8), RED), "r.png")
    tensor = load_image(path, 224, ResizeMode.STRETCH, ChannelOrder.RGB)
    assert tensor[0].mean() == pytest.approx(1.0) and tensor[2].mean() == pytest.approx(0.0)


def test_shorter_crop_keeps_the_centre(tmp_path: Path) -> None:
    image = Image.new("RGB", (600, 300), (0, 0, 255))
    image.paste(RED, (150, 0, 450, 300))  # the middle half is red
    tensor = load_image(
        write(tmp_path, image, "wide.png"), 224, ResizeMode.SHORTER_CROP, ChannelOrder.RGB
    )
    assert tensor[0].mean() > 0.99  # only the red centre survives the crop
    stretched = load_image(tmp_path / "wide.png", 224, ResizeMode.STRETCH, ChannelOrder.RGB)
    assert stretched[2].mean() > 0.4  # stretching keeps the blue sides


def test_a_broken_image_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match=r"broken\.png"):
        load_image(path, 224, ResizeMode.STRETCH, ChannelOrder.BGR)


def _png_header(path: Path, width: int, height: int, bit_depth: int, colour_type: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` with almost no pixel data (a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


@pytest.mark.parametrize(
    ("width", "height", "bit_depth", "colour_type", "words"),
    [
        (60000, 60000, 8, 2, "decompression bomb"),  # Pillow's own guard at open()
        (9000, 9000, 8, 2, "9000 x 9000 RGB image would need 309 MiB"),
        (6000, 6000, 16, 0, "6000 x 6000 I;16 image would need 275 MiB"),  # 16-bit counts twice
        (9000, 9000, 8, 0, "9000 x 9000 L image would need 309 MiB"),  # converted to RGB
    ],
)
def test_oversized_images_are_refused_from_the_header(
    tmp_path: Path, width: int, height: int, bit_depth: int, colour_type: int, words: str
) -> None:
    path = _png_header(tmp_path / "bomb.png", width, height, bit_depth, colour_type)
    with pytest.raises(DataError, match=words):
        load_image(path, 16, ResizeMode.STRETCH, ChannelOrder.BGR)


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [("RGB", (100, 10), 4000), ("L", (100, 10), 4000), ("I;16", (100, 10), 8000)],
)
def test_decoded_bytes_account_for_the_mode(
    mode: str, size: tuple[int, int], expected: int
) -> None:
    assert decoded_bytes(mode, size) == expected
