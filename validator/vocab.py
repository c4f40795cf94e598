"""Closed vocabularies of robust-validate, as enums (values are what JSON and TOML spell)."""

from __future__ import annotations

import enum


class CheckId(str, enum.Enum):
    """Stable ids of the checks (REPORT.md); tests, the plugin and TOML overrides use them."""

    LOAD = "load"
    RUNTIME = "runtime"
    FP32 = "fp32"
    INPUT = "input"
    OUTPUT = "output"
    PARAMS = "params"
    FILE_SIZE = "file-size"
    FLOPS = "flops"
    OPSET = "opset"
    OPERATORS = "operators"
    ENSEMBLE = "ensemble"
    DETERMINISM = "determinism"
    BATCH_CONSISTENCY = "batch-consistency"
    MASKING = "masking"  # from attack runs: outputs or operators that hide gradients
    CONVERTIBLE = "convertible"  # from white-box runs: the ONNX-to-PyTorch conversion agrees


class ChannelOrder(str, enum.Enum):
    """Channel order of the tensor the model receives."""

    BGR = "bgr"
    RGB = "rgb"


class MacsConvention(str, enum.Enum):
    """How multiply-adds are counted (see validator/graph/macs.py for the exact rules)."""

    PTFLOPS = "ptflops"  # the official checker: ptflops 0.6.8 module hooks
    TORCHVISION = "torchvision"  # multiplies of Conv/Gemm/MatMul only, as torchvision's tables
    FULL = "full"  # every node


class ResizeMode(str, enum.Enum):
    """How an image of any size becomes the model's square input."""

    STRETCH = "stretch"  # resize both sides to the input size (Resize((224, 224)))
    SHORTER_CROP = "shorter-crop"  # Resize(256) on the shorter side, then CenterCrop(224)
