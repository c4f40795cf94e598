"""The documented preprocessing: any mode to RGB, resize, [0, 1], channel order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from validator.data.images import load_image
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
