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
    ATTACK_MANIFEST = "attack-manifest"  # attacked sets read from disk: made against this model
    SCORE_SPREAD = "score-spread"  # Track 2: a detector's scores separate images at all
    # PyTorch submissions (zip with model.py): the platform's own checks on the module
    TORCH_OUTPUT = "torch-output"  # output.numel() == num_classes for zeros(1, 3, 224, 224)
    TORCH_PARAMS = "torch-params"  # trainable parameters, as ptflops 0.6.8 counts them
    TORCH_FLOPS = "torch-flops"  # multiply-adds, as ptflops 0.6.8 counts them on the module
    TORCH_TRAINABLE = "torch-trainable"  # at least one (DistributedDataParallel needs one)
    TORCH_COMPAT = "torch-compat"  # modules torch 1.5 (the official environment) lacks
    EXPORT = "export"  # the module exported to ONNX, so the ONNX checks could run on it
    PLATFORM_CONVERSION = "platform-conversion"  # the organizers' converter can convert the file


class ChannelOrder(str, enum.Enum):
    """Channel order of the tensor the model receives."""

    BGR = "bgr"
    RGB = "rgb"


class MacsConvention(str, enum.Enum):
    """How multiply-adds are counted (see validator/graph/macs.py for the exact rules)."""

    PTFLOPS = "ptflops"  # the official checker: ptflops 0.6.8 module hooks
    TORCHVISION = "torchvision"  # multiplies of Conv/Gemm/MatMul only, as torchvision's tables
    FULL = "full"  # every node
    PLATFORM = "platform"  # the organizers' ONNX route: their converter, then ptflops 0.6.8


class ResizeMode(str, enum.Enum):
    """How an image of any size becomes the model's square input."""

    STRETCH = "stretch"  # resize both sides to the input size (Resize((224, 224)))
    SHORTER_CROP = "shorter-crop"  # Resize(256) on the shorter side, then CenterCrop(224)


class Phase(str, enum.Enum):
    """A stage of work on one model, each run in a child process under its own time limit."""

    ANALYSIS = "analysis"  # loading, shape inference, folding, counting, ensemble analysis
    RUNTIME = "runtime"  # onnxruntime session and the sample runs of the runtime checks
    SCORING = "scoring"  # inference on the data sets, and attacks made on the fly
    ATTACK = "attack"  # the attack command: attacked sets written to disk


class Breach(str, enum.Enum):
    """How a child process ended without finishing its phase."""

    TIMEOUT = "timeout"  # the phase's wall-time limit passed; the child was killed
    MEMORY = "memory"  # the address-space limit was reached
    CRASH = "crash"  # the child died (a signal, or exited without a result)


class Task(str, enum.Enum):
    """What a profile's model does, and so how it is scored."""

    CLASSIFICATION = "classification"  # Track 1: N x num_classes, 40/60 accuracy score
    DETECTION = "detection"  # Track 2: N x 1 adversarial-example score, best-threshold F1


class MaskingPolicy(str, enum.Enum):
    """What masking evidence from an attack run does to the verdict."""

    WARN = "warn"  # a warning; attacked numbers are reported as upper bounds
    ERROR = "error"  # the masking check fails the model (organizers who forbid masking)


class ScoreDirection(str, enum.Enum):
    """Which end of a detector's score means "adversarial" (Track 2)."""

    HIGH = "high"  # a higher score means adversarial (a "probability of attack")
    LOW = "low"  # a lower score means adversarial (a "probability of clean")


class SubmissionStatus(str, enum.Enum):
    """How the evaluation of one batch entry ended (the leaderboard's ``status`` column)."""

    OK = "ok"  # evaluated, whatever the verdict (a file that fails ``load`` included)
    TIMEOUT = "timeout"  # a phase broke its wall-time limit: the evaluation is incomplete
    MEMORY = "memory"  # a phase broke the memory limit: the evaluation is incomplete
    ERROR = "error"  # a crash, or the file could not be evaluated at all
    INVALID = "invalid"  # the entry is not a submission
    PENDING = "pending"  # not evaluated yet (only in a leaderboard written during a run)


class Device(str, enum.Enum):
    """Where onnxruntime (and torch, for white-box attacks) runs the model."""

    CPU = "cpu"  # onnxruntime's CPUExecutionProvider
    CUDA = "cuda"  # onnxruntime's CUDAExecutionProvider (the onnxruntime-gpu package)
