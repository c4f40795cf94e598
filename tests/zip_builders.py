"""PyTorch submissions (zips with model.py) built in code for the tests: honest ones and hostile
ones. Each builder writes a zip into ``folder`` and returns its path. Weights are made with
numpy (no torch needed to build a zip); model.py imports torch when the child imports it."""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

PLAIN_CNN = """
import os
import numpy as np
import torch
import torch.nn as nn

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.AvgPool2d(8), nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(8, NUM)
        weights = np.load(os.path.join(os.path.dirname(__file__), "weights.npz"))
        with torch.no_grad():
            self.features[1].weight.copy_(torch.from_numpy(weights["conv_w"]))
            self.features[1].bias.copy_(torch.from_numpy(weights["conv_b"]))
            self.fc.weight.copy_(torch.from_numpy(weights["fc_w"]))
            self.fc.bias.copy_(torch.from_numpy(weights["fc_b"]))

    def forward(self, x):
        return self.fc(self.features(x))
"""

BIG = """
import torch.nn as nn

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flat = nn.Flatten()
        self.wide = nn.Linear(3, 6000)
        self.huge = nn.Linear(6000, 5200)  # 31.2 M parameters
        self.head = nn.Linear(5200, NUM)

    def forward(self, x):
        return self.head(self.huge(self.wide(self.flat(self.pool(x)))))
"""

ENSEMBLE = """
import torch.nn as nn

def member(width):
    return nn.Sequential(nn.AvgPool2d(8), nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, NUM))

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = member(8)
        self.b = member(12)

    def forward(self, x):
        return (self.a(x) + self.b(x)) / 2
"""

RANDOMISED = """
import torch
import torch.nn as nn

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.AvgPool2d(8), nn.Conv2d(3, 8, 3, padding=1), nn.SiLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, NUM))

    def forward(self, x):
        return self.net(x + 0.05 * torch.randn_like(x))
"""

RAISES = """
raise RuntimeError("the weights file is missing")
"""

IMPORT_LOOP = """
while True:
    pass
"""

READ_PASSWD = """
SECRET = open("/etc/passwd").read()
"""

WRITE_OUTSIDE = """
open("/tmp/robust-validate-escape.txt", "w").write("escaped")
"""

FORK_BOMB = """
import os, time
children = 0
for _ in range(100000):
    try:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        children += 1
    except OSError:
        break
raise RuntimeError(f"fork refused after {children} children")
"""

NETWORK = """
import socket
socket.create_connection(("1.1.1.1", 80), timeout=3)
"""

SOURCES = {
    "plain": PLAIN_CNN, "big": BIG, "ensemble": ENSEMBLE, "randomised": RANDOMISED,
    "raises": RAISES, "import-loop": IMPORT_LOOP, "read-passwd": READ_PASSWD,
    "write-outside": WRITE_OUTSIDE, "fork-bomb": FORK_BOMB, "network": NETWORK,
}  # fmt: skip


def plain_weights(num_classes: int, seed: int = 0) -> bytes:
    """weights.npz of PLAIN_CNN."""
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        conv_w=rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
        conv_b=rng.normal(0, 0.1, 8).astype(np.float32),
        fc_w=rng.normal(0, 0.5, (num_classes, 8)).astype(np.float32),
        fc_b=rng.normal(0, 0.1, num_classes).astype(np.float32),
    )
    return buffer.getvalue()


def write_zip(path: Path, members: Mapping[str, bytes | str]) -> Path:
    """A zip made like ``zip -r x.zip *``: the members at the top level."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def submission(folder: Path, kind: str, num_classes: int = 100) -> Path:
    """The zip of example ``kind`` (a key of SOURCES)."""
    members: dict[str, bytes | str] = {"model.py": SOURCES[kind].replace("NUM", str(num_classes))}
    if kind == "plain":
        members["weights.npz"] = plain_weights(num_classes)
    return write_zip(folder / f"{kind}.zip", members)


def nested(folder: Path) -> Path:
    """model.py inside a folder on top (zipped as ``zip -r x.zip folder``)."""
    return write_zip(folder / "nested.zip", {"sub/model.py": RAISES})


def zip_slip(folder: Path) -> Path:
    """A member that climbs out of the folder."""
    return write_zip(folder / "slip.zip", {"model.py": "", "../../escaped.txt": "x"})


def absolute_member(folder: Path) -> Path:
    """A member with an absolute path."""
    return write_zip(folder / "absolute.zip", {"model.py": "", "/tmp/escaped.txt": "x"})


def symlink_member(folder: Path) -> Path:
    """A member marked as a symbolic link to /etc/passwd in its Unix mode."""
    path = folder / "symlink.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.py", "")
        link = zipfile.ZipInfo("passwd")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return path


def zip_bomb(folder: Path, size: int = 256 * 2**20) -> Path:
    """A member of ``size`` zero bytes (compresses about a thousand times)."""
    path = folder / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.py", "")
        with archive.open("zeros.bin", "w", force_zip64=True) as member:
            chunk = bytes(2**20)
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return path


def not_a_zip(folder: Path) -> Path:
    """Random bytes named .zip."""
    path = folder / "garbage.zip"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    return path
