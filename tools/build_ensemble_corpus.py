"""Build the ensemble-detection corpus: ensembles, multi-view (TTA) models and tricky singles.

Development script only (needs torch, onnxscript for the dynamo exporter, and the golden
fixtures). Every model is weight-free (weights become ConstantOfShape zero-fillers, by
``strip_weights`` of tools/export_golden.py) except the two whose point is real weight values.
Writes ``tests/fixtures/ensembles/*.onnx`` and ``manifest.json`` (file -> expected verdict,
construction, description); the golden single architectures are listed in the manifest too, as
``../golden/<name>.onnx``.

Usage (from the repository root)::

    python tools/build_ensemble_corpus.py              # (re)build everything
    python tools/build_ensemble_corpus.py --only tta_flip ens_hard_vote
    python tools/build_ensemble_corpus.py --evaluate   # verdicts, precision and recall (no torch)
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "ensembles"
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
CLASSES = 100
SEED = 20220620
GOLDEN_SINGLES = [
    "resnet18", "resnet50", "resnet101", "resnet50_bn", "wide_resnet50_2", "resnext50_32x4d",
    "vgg16", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "densenet121",
    "convnext_tiny", "convnext_tiny_100", "swin_t", "vit_b_16", "googlenet", "inception_v3",
    "squeezenet1_0", "shufflenet_v2_x1_0",
]


@dataclass(frozen=True)
class Case:
    """One corpus model: how to build it and what the check must say."""

    name: str
    expected: str
    construction: str
    exporter: str
    description: str
    build: Callable[[], onnx.ModelProto]


# --------------------------------------------------------------------------- torch models
# Imported lazily so that --evaluate runs without torch.


def _nn() -> Any:
    import torch

    return torch


def _modules() -> dict[str, Any]:
    """Small torch modules, defined on first use."""
    torch = _nn()
    nn, F = torch.nn, torch.nn.functional

    def conv_bn(cin: int, cout: int, stride: int = 1, groups: int = 1, k: int = 3) -> Any:
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )

    class PlainCNN(nn.Module):
        """A VGG-like stack."""

        def __init__(self, widths: tuple[int, ...] = (16, 32, 64), classes: int = CLASSES,
                     cin: int = 3) -> None:
            super().__init__()
            layers, c = [], cin
            for w in widths:
                layers.append(conv_bn(c, w, 2))
                c = w
            self.features = nn.Sequential(*layers)
            self.fc = nn.Linear(c, classes)

        def forward(self, x: Any) -> Any:
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))

    class Block(nn.Module):
        def __init__(self, c: int, groups: int = 1) -> None:
            super().__init__()
            self.a, self.b = conv_bn(c, c, groups=groups), conv_bn(c, c, groups=groups)

        def forward(self, x: Any) -> Any:
            return torch.relu(x + self.b(self.a(x)))

    class TinyResNet(nn.Module):
        """Stem, residual blocks, pooled linear head."""

        def __init__(self, width: int = 24, classes: int = CLASSES) -> None:
            super().__init__()
            self.stem = nn.Sequential(conv_bn(3, width, 2), nn.MaxPool2d(2))
            self.body = nn.Sequential(Block(width), conv_bn(width, 2 * width, 2),
                                      Block(2 * width))
            self.fc = nn.Linear(2 * width, classes)

        def forward(self, x: Any) -> Any:
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.body(self.stem(x)), 1), 1))

    class SE(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

        def forward(self, x: Any) -> Any:
            s = F.adaptive_avg_pool2d(x, 1)
            return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))

    class TinyMobile(nn.Module):
        """Depthwise-separable convolutions with squeeze-excite."""

        def __init__(self, width: int = 32, classes: int = CLASSES) -> None:
            super().__init__()
            self.stem = conv_bn(3, width, 2)
            self.dw = conv_bn(width, width, 2, groups=width)
            self.se = SE(width)
            self.pw = conv_bn(width, 2 * width, 1, k=1)
            self.dw2 = conv_bn(2 * width, 2 * width, 2, groups=2 * width)
            self.fc = nn.Linear(2 * width, classes)

        def forward(self, x: Any) -> Any:
            y = self.dw2(self.pw(self.se(self.dw(self.stem(x)))))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))

    class TinyResNeXt(nn.Module):
        """Grouped 3x3 convolutions between dense 1x1s, with squeeze-excite (a single model)."""

        def __init__(self, width: int = 32, classes: int = CLASSES) -> None:
            super().__init__()
            self.stem = conv_bn(3, width, 2)
            self.blocks = nn.ModuleList(
                nn.Sequential(conv_bn(width, width, k=1), conv_bn(width, width, groups=8),
                              conv_bn(width, width, k=1), SE(width))
                for _ in range(3)
            )
            self.fc = nn.Linear(width, classes)

        def forward(self, x: Any) -> Any:
            x = self.stem(x)
            for block in self.blocks:
                x = torch.relu(x + block(x))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    return {name: obj for name, obj in locals().items() if isinstance(obj, type)} | {
        "conv_bn": conv_bn, "Block": Block}


def _seeded(module: Any) -> Any:
    torch = _nn()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            if t.is_floating_point():
                if name.endswith("running_var"):
                    t.copy_(0.5 + torch.rand(t.shape, generator=gen))
                else:
                    t.add_(0.01 * torch.randn(t.shape, generator=gen))
    return module.eval()


def export(module: Any, dynamo: bool = False, outputs: tuple[str, ...] = ("output",),
           strip: bool = True) -> onnx.ModelProto:
    """Export ``module`` (input ``input`` N x 3 x 224 x 224) and strip its weights."""
    torch = _nn()
    module = _seeded(module)
    x = torch.zeros(1, 3, 224, 224)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            program = torch.onnx.export(
                module, (x,), dynamo=True, opset_version=18, input_names=["input"],
                output_names=list(outputs), dynamic_shapes=({0: torch.export.Dim("N")},),
                verbose=False,
            )
            model = _drop_source_locations(program.model_proto)
        else:
            buf = io.BytesIO()
            torch.onnx.export(
                module, (x,), buf, dynamo=False, opset_version=15, input_names=["input"],
                output_names=list(outputs),
                dynamic_axes={"input": {0: "N"}} | {o: {0: "N"} for o in outputs},
            )
            model = onnx.load_from_string(buf.getvalue())
    return _strip(model) if strip else model


def _drop_source_locations(model: onnx.ModelProto) -> onnx.ModelProto:
    """The dynamo exporter records Python stack traces (this machine's paths) as metadata."""
    for node in [*model.graph.node, *(n for f in model.functions for n in f.node)]:
        del node.metadata_props[:]
    for value in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        del value.metadata_props[:]
    return model


def _strip(model: onnx.ModelProto) -> onnx.ModelProto:
    sys.path.insert(0, str(ROOT / "tools"))
    from export_golden import strip_weights

    return strip_weights(model)


def torch_case(factory: Callable[[dict[str, Any]], Any], **kwargs: Any) -> Callable[[], Any]:
    """A builder exporting ``factory(modules)`` with ``export(**kwargs)``."""
    return lambda: export(factory(_modules()), **kwargs)


def _wrap(forward: Callable[..., Any], **members: Any) -> Any:
    """An nn.Module holding ``members`` whose forward is ``forward(self, x)``."""
    torch = _nn()

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for name, module in members.items():
                setattr(self, name, module)

        def forward(self, x: Any) -> Any:
            return forward(self, x)

    return Wrapper()


# --------------------------------------------------------------------------- torch cases


def _ens_stack_mean(m: dict[str, Any]) -> Any:
    torch = _nn()
    return _wrap(lambda s, x: torch.stack([s.a(x), s.b(x)], 1).mean(1),
                 a=m["TinyResNet"](), b=m["TinyMobile"]())


def _ens_softmax_avg(m: dict[str, Any]) -> Any:
    torch = _nn()
    return _wrap(lambda s, x: (torch.softmax(s.a(x), 1) + torch.softmax(s.b(x), 1)) / 2,
                 a=m["PlainCNN"](), b=m["TinyResNet"]())


def _ens_weighted(m: dict[str, Any]) -> Any:
    return _wrap(lambda s, x: 0.7 * s.a(x) + 0.3 * s.b(x), a=m["TinyResNet"](),
                 b=m["PlainCNN"]((24, 48, 96)))


def _ens_vote(m: dict[str, Any]) -> Any:
    torch = _nn()
    F = torch.nn.functional

    def forward(s: Any, x: Any) -> Any:
        votes = [F.one_hot(net(x).argmax(1), CLASSES) for net in (s.a, s.b, s.c)]
        return (votes[0] + votes[1] + votes[2]).float()

    return _wrap(forward, a=m["TinyResNet"](), b=m["TinyMobile"](), c=m["PlainCNN"]())


def _ens_max_stacked(m: dict[str, Any]) -> Any:
    torch = _nn()
    return _wrap(lambda s, x: torch.stack([s.a(x), s.b(x), s.c(x)], 1).amax(1),
                 a=m["TinyResNet"](), b=m["TinyMobile"](), c=m["PlainCNN"]())


def _ens_max_elementwise(m: dict[str, Any]) -> Any:
    torch = _nn()
    return _wrap(lambda s, x: torch.maximum(s.a(x), s.b(x)), a=m["TinyMobile"](),
                 b=m["PlainCNN"]((16, 32, 64, 128)))


def _ens_stacking(m: dict[str, Any]) -> Any:
    torch = _nn()
    return _wrap(lambda s, x: s.meta(torch.cat([s.a(x), s.b(x)], 1)), a=m["TinyResNet"](),
                 b=m["TinyMobile"](), meta=torch.nn.Linear(2 * CLASSES, CLASSES))


def _ens_shared_stem(m: dict[str, Any]) -> Any:
    torch = _nn()
    conv_bn, Block = m["conv_bn"], m["Block"]

    def head(width: int) -> Any:
        return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                   torch.nn.Linear(width, CLASSES))

    body_a = torch.nn.Sequential(conv_bn(16, 32, 2), Block(32), conv_bn(32, 64, 2), head(64))
    body_b = torch.nn.Sequential(conv_bn(16, 48, 2), conv_bn(48, 48, 1, groups=48),
                                 conv_bn(48, 96, 2, k=1), head(96))

    def forward(s: Any, x: Any) -> Any:
        h = s.stem(x)  # computed once, read by both members
        return (s.a(h) + s.b(h)) / 2

    return _wrap(forward, stem=conv_bn(3, 16, 2), a=body_a, b=body_b)


def _ens_views(m: dict[str, Any]) -> Any:
    torch = _nn()
    F = torch.nn.functional

    def forward(s: Any, x: Any) -> Any:
        small = F.interpolate(x, size=(160, 160), mode="bilinear", align_corners=False)
        crop = x[:, :, 16:208, 16:208]
        return (s.a(x) + s.b(small) + s.c(crop)) / 3

    return _wrap(forward, a=m["TinyResNet"](), b=m["TinyMobile"](), c=m["PlainCNN"]())


def _packed(k: int = 2, concat_input: bool = True, split_heads: bool = False) -> Any:
    """k networks in one: every convolution grouped k ways so the blocks never mix."""
    torch = _nn()
    nn, F = torch.nn, torch.nn.functional
    w = 16

    def cbr(cin: int, cout: int, stride: int = 1, groups: int = k) -> Any:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU())

    class Res(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.a, self.b = cbr(c, c), cbr(c, c)

        def forward(self, x: Any) -> Any:
            return F.relu(x + self.b(self.a(x)))

    class Packed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = cbr(3 * k, w * k, 2) if concat_input else cbr(3, w * k, 2, groups=1)
            self.body = nn.Sequential(nn.MaxPool2d(2), Res(w * k), cbr(w * k, 2 * w * k, 2),
                                      Res(2 * w * k), cbr(2 * w * k, 4 * w * k, 2))
            if split_heads:
                self.heads = nn.ModuleList(nn.Linear(4 * w, CLASSES) for _ in range(k))
            else:
                self.head = nn.Conv2d(4 * w * k, CLASSES * k, 1, groups=k)

        def forward(self, x: Any) -> Any:
            if concat_input:
                x = torch.cat([x] * k, 1)
            y = self.body(self.stem(x))
            if split_heads:
                parts = torch.chunk(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1), k, 1)
                return sum(h(p) for h, p in zip(self.heads, parts)) / k
            y = torch.flatten(F.adaptive_avg_pool2d(self.head(y), 1), 1)
            return y.reshape(-1, k, CLASSES).mean(1)

    return Packed()


def _concat_grouped(m: dict[str, Any]) -> Any:
    """Two different feature extractors, concatenated on channels, then grouped layers and a
    grouped classifier: each half only ever sees one network's features."""
    torch = _nn()
    nn, conv_bn = torch.nn, m["conv_bn"]
    resnet = m["TinyResNet"]()  # its stem and body: 48 channels at 28 x 28

    def forward(s: Any, x: Any) -> Any:
        y = s.mix(torch.cat([s.a(x), s.b(x)], 1))
        y = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(s.head(y), 1), 1)
        return y.reshape(-1, 2, CLASSES).mean(1)

    return _wrap(forward, a=nn.Sequential(resnet.stem, resnet.body),
                 b=nn.Sequential(conv_bn(3, 16, 2), conv_bn(16, 32, 2), conv_bn(32, 48, 2)),
                 mix=conv_bn(96, 96, groups=2), head=nn.Conv2d(96, 2 * CLASSES, 1, groups=2))


def _tta(m: dict[str, Any]) -> Any:
    return _wrap(lambda s, x: (s.net(x) + s.net(x.flip(3))) / 2, net=m["TinyResNet"]())


def _tta_batch(m: dict[str, Any]) -> Any:
    torch = _nn()

    def forward(s: Any, x: Any) -> Any:
        y = s.net(torch.cat([x, x.flip(3)], 0))
        return y.reshape(2, -1, CLASSES).mean(0)

    return _wrap(forward, net=m["TinyMobile"]())


def _tta_multiscale(m: dict[str, Any]) -> Any:
    F = _nn().nn.functional
    return _wrap(lambda s, x: (s.net(x) + s.net(F.interpolate(x, size=(192, 192),
                                                                mode="bilinear"))) / 2,
                 net=m["PlainCNN"]())


def _ens_tta_plus(m: dict[str, Any]) -> Any:
    return _wrap(lambda s, x: (s.a(x) + s.a(x.flip(3)) + s.b(x)) / 3, a=m["TinyResNet"](),
                 b=m["TinyMobile"]())


def _same_arch_real(m: dict[str, Any]) -> Any:
    torch = _nn()
    a, b = m["PlainCNN"]((8, 16)), m["PlainCNN"]((8, 16))
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.1)
    return _wrap(lambda s, x: (s.a(x) + s.b(x)) / 2, a=a, b=b)


def _denoiser(m: dict[str, Any]) -> Any:
    torch = _nn()
    nn, conv_bn = torch.nn, m["conv_bn"]

    class Denoiser(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down = nn.Sequential(conv_bn(3, 16, 2), conv_bn(16, 32, 2))
            self.up = nn.Sequential(nn.Upsample(size=(224, 224), mode="nearest"),
                                    nn.Conv2d(32, 3, 3, 1, 1))

        def forward(self, x: Any) -> Any:
            return x - self.up(self.down(x))  # predicts the noise, subtracts it

    return _wrap(lambda s, x: s.cls(s.den(x)), den=Denoiser(), cls=m["TinyResNet"]())


def _fpn(m: dict[str, Any]) -> Any:
    torch = _nn()
    F, conv_bn = torch.nn.functional, m["conv_bn"]

    def forward(s: Any, x: Any) -> Any:
        c2 = s.s2(s.s1(x))
        c3 = s.s3(c2)
        c4 = s.s4(c3)
        p4 = s.l4(c4)
        # sizes, not scale factors: weight stripping would zero a float scales tensor
        p3 = s.l3(c3) + F.interpolate(p4, size=(28, 28), mode="nearest")
        p2 = s.l2(c2) + F.interpolate(p3, size=(56, 56), mode="nearest")
        pooled = [torch.flatten(F.adaptive_avg_pool2d(p, 1), 1) for p in (p2, p3, p4)]
        return s.fc(torch.cat(pooled, 1))

    return _wrap(forward, s1=conv_bn(3, 16, 2), s2=conv_bn(16, 32, 2), s3=conv_bn(32, 64, 2),
                 s4=conv_bn(64, 128, 2), l2=torch.nn.Conv2d(32, 64, 1),
                 l3=torch.nn.Conv2d(64, 64, 1), l4=torch.nn.Conv2d(128, 64, 1),
                 fc=torch.nn.Linear(192, CLASSES))


def _multi_exit(m: dict[str, Any]) -> Any:
    torch = _nn()
    F, conv_bn, Block = torch.nn.functional, m["conv_bn"], m["Block"]

    def pool(t: Any) -> Any:
        return torch.flatten(F.adaptive_avg_pool2d(t, 1), 1)

    def forward(s: Any, x: Any) -> Any:
        c3 = s.s3(s.s2(s.s1(x)))
        c4 = s.s4(c3)
        return (s.h3(pool(c3)) + s.h4(pool(c4))) / 2  # deep supervision heads, averaged

    return _wrap(forward, s1=conv_bn(3, 16, 2), s2=torch.nn.Sequential(conv_bn(16, 32, 2),
                 Block(32)), s3=torch.nn.Sequential(conv_bn(32, 64, 2), Block(64)),
                 s4=torch.nn.Sequential(conv_bn(64, 128, 2), Block(128)),
                 h3=torch.nn.Linear(64, CLASSES), h4=torch.nn.Linear(128, CLASSES))


def _aux(m: dict[str, Any]) -> Any:
    torch = _nn()
    F, conv_bn = torch.nn.functional, m["conv_bn"]

    def forward(s: Any, x: Any) -> Any:
        mid = s.s2(s.s1(x))
        main = s.fc(torch.flatten(F.adaptive_avg_pool2d(s.s3(mid), 1), 1))
        aux = s.aux(torch.flatten(F.adaptive_avg_pool2d(s.auxconv(mid), 1), 1))
        return main, aux

    return _wrap(forward, s1=conv_bn(3, 16, 2), s2=conv_bn(16, 32, 2),
                 s3=torch.nn.Sequential(conv_bn(32, 64, 2), conv_bn(64, 128, 2)),
                 fc=torch.nn.Linear(128, CLASSES), auxconv=conv_bn(32, 64, 1, k=1),
                 aux=torch.nn.Linear(64, CLASSES))


def _aux_dangling() -> onnx.ModelProto:
    """The aux model, hand-edited: the aux output removed, its nodes left in the graph."""
    model = export(_aux(_modules()), outputs=("output", "aux"))
    keep = [o for o in model.graph.output if o.name == "output"]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    return model


def _alexnet_groups(m: dict[str, Any]) -> Any:
    torch = _nn()
    conv_bn = m["conv_bn"]
    features = torch.nn.Sequential(conv_bn(3, 32, 2), conv_bn(32, 64, 2, groups=2),
                                   conv_bn(64, 64, 2),  # dense: the halves mix here
                                   conv_bn(64, 64, 1, groups=2), conv_bn(64, 64, 2, groups=2))
    return _wrap(lambda s, x: s.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(
        s.f(x), 1), 1)), f=features, fc=torch.nn.Linear(64, CLASSES))


def _two_stream(m: dict[str, Any]) -> Any:
    torch = _nn()
    F = torch.nn.functional

    def forward(s: Any, x: Any) -> Any:
        high = x - F.avg_pool2d(x, 3, 1, 1)  # a high-pass stream
        fa = torch.flatten(F.adaptive_avg_pool2d(s.a(x), 1), 1)
        fb = torch.flatten(F.adaptive_avg_pool2d(s.b(high), 1), 1)
        return s.fc(torch.cat([fa, fb], 1))

    return _wrap(forward, a=m["PlainCNN"]().features, b=m["PlainCNN"]((16, 32, 64)).features,
                 fc=torch.nn.Linear(128, CLASSES))


def _dual_norm(m: dict[str, Any]) -> Any:
    torch = _nn()

    def forward(s: Any, x: Any) -> Any:
        return s.net(torch.cat([(x - 0.5) / 0.25, (x - x.mean((2, 3), keepdim=True))], 1))

    return _wrap(forward, net=m["PlainCNN"](cin=6))


def _deit(m: dict[str, Any]) -> Any:
    """A tiny DeiT: class and distillation tokens, two heads averaged at inference."""
    torch = _nn()
    nn = torch.nn

    class Deit(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = 64
            self.patch = nn.Conv2d(3, d, 32, 32)
            self.tokens = nn.Parameter(torch.zeros(1, 2, d))
            self.pos = nn.Parameter(torch.zeros(1, 51, d))
            self.enc = nn.TransformerEncoder(
                nn.TransformerEncoderLayer(d, 4, 128, batch_first=True, dropout=0.0), 2,
                enable_nested_tensor=False)
            self.head, self.head_dist = nn.Linear(d, CLASSES), nn.Linear(d, CLASSES)

        def forward(self, x: Any) -> Any:
            p = self.patch(x).flatten(2).transpose(1, 2)
            t = torch.cat([self.tokens.expand(x.shape[0], -1, -1), p], 1) + self.pos
            t = self.enc(t)
            return (self.head(t[:, 0]) + self.head_dist(t[:, 1])) / 2

    return Deit()


# --------------------------------------------------------------------------- onnx.helper cases


def _golden(name: str) -> onnx.ModelProto:
    return onnx.load(str(GOLDEN / f"{name}.onnx"))


def _constant_names(graph: onnx.GraphProto) -> set[str]:
    constant = {t.name for t in graph.initializer}
    for node in graph.node:
        if all(n in constant for n in node.input if n):
            constant.update(node.output)
    return constant


def _copy(model: onnx.ModelProto, prefix: str, source: str, share: set[str] | None = None,
          share_prefix: str = "") -> tuple[list[Any], list[Any], str]:
    """Nodes and initializers of ``model`` renamed with ``prefix``, reading ``source`` instead
    of its input. Tensors in ``share`` are renamed with ``share_prefix`` instead and their
    producers are dropped (the copy reuses another copy's weights)."""
    graph = model.graph
    share = share or set()
    old_input, old_output = graph.input[0].name, graph.output[0].name

    def rename(n: str) -> str:
        if not n:
            return n
        if n in share:
            return share_prefix + n
        return source if n == old_input else prefix + n

    nodes = []
    for node in graph.node:
        if node.output and all(o in share for o in node.output):
            continue
        new = onnx.NodeProto()
        new.CopyFrom(node)
        new.name = prefix + node.name
        new.input[:] = [rename(n) for n in node.input]
        new.output[:] = [rename(n) for n in node.output]
        nodes.append(new)
    inits = []
    for tensor in graph.initializer:
        if tensor.name in share:
            continue
        t = onnx.TensorProto()
        t.CopyFrom(tensor)
        t.name = prefix + tensor.name
        inits.append(t)
    return nodes, inits, rename(old_output)


def _model(nodes: list[Any], inits: list[Any], output: str, classes: int,
           opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "corpus",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _scalar(name: str, value: float) -> Any:
    return numpy_helper.from_array(np.array(value, dtype=np.float32), name)


def _golden_avg() -> onnx.ModelProto:
    n1, i1, o1 = _copy(_golden("resnet18"), "a/", "input")
    n2, i2, o2 = _copy(_golden("mobilenet_v2"), "b/", "input")
    fuse = [helper.make_node("Add", [o1, o2], ["sum"], name="fuse_add"),
            helper.make_node("Div", ["sum", "two"], ["output"], name="fuse_div")]
    return _model(n1 + n2 + fuse, i1 + i2 + [_scalar("two", 2.0)], "output", 1000)


def _golden_twins() -> onnx.ModelProto:
    n1, i1, o1 = _copy(_golden("resnet18"), "twin1/", "input")
    n2, i2, o2 = _copy(_golden("resnet18"), "twin2/", "input")
    fuse = [helper.make_node("Sum", [o1, o2], ["output"], name="fuse_sum")]
    return _model(n1 + n2 + fuse, i1 + i2, "output", 1000)


def _golden_geomean() -> onnx.ModelProto:
    nodes, inits, outs = [], [], []
    for i, name in enumerate(["mobilenet_v3_small", "squeezenet1_0", "shufflenet_v2_x1_0"]):
        n, t, o = _copy(_golden(name), f"m{i}/", "input")
        n.append(helper.make_node("LogSoftmax", [o], [f"logp{i}"], axis=1, name=f"logp{i}"))
        nodes += n
        inits += t
        outs.append(f"logp{i}")
    nodes += [helper.make_node("Sum", outs, ["total"], name="geo_sum"),
              helper.make_node("Div", ["total", "three"], ["output"], name="geo_div")]
    return _model(nodes, inits + [_scalar("three", 3.0)], "output", 1000)


def _flip_nodes(source: str, out: str) -> tuple[list[Any], list[Any]]:
    ints = [numpy_helper.from_array(np.array([v], dtype=np.int64), f"{out}_{k}")
            for k, v in (("s", -1), ("e", -(2**62)), ("a", 3), ("st", -1))]
    node = helper.make_node("Slice", [source] + [t.name for t in ints], [out], name=f"{out}_op")
    return [node], ints


def _golden_tta() -> onnx.ModelProto:
    model = _golden("resnet18")
    shared = _constant_names(model.graph)
    n1, i1, o1 = _copy(model, "view1/", "input")
    flip, ints = _flip_nodes("input", "flipped")
    n2, _, o2 = _copy(model, "view2/", "flipped", share=shared, share_prefix="view1/")
    fuse = [helper.make_node("Add", [o1, o2], ["sum"], name="tta_add"),
            helper.make_node("Div", ["sum", "two"], ["output"], name="tta_div")]
    return _model(n1 + flip + n2 + fuse, i1 + ints + [_scalar("two", 2.0)], "output", 1000)


def _handbuilt_random() -> onnx.ModelProto:
    """Three small CNNs written node by node, every node and tensor named at random."""
    rng = random.Random(SEED)
    np_rng = np.random.default_rng(SEED)

    def rid() -> str:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(10))

    nodes, inits, heads = [], [], []
    for widths in ((8, 16), (12, 24, 48), (16, 16, 32, 32)):
        x, cin = "input", 3
        for w in widths:
            wname, y, z = rid(), rid(), rid()
            inits.append(numpy_helper.from_array(
                np_rng.standard_normal((w, cin, 3, 3)).astype(np.float32), wname))
            nodes += [helper.make_node("Conv", [x, wname], [y], name=rid(), pads=[1, 1, 1, 1],
                                       strides=[2, 2], kernel_shape=[3, 3]),
                      helper.make_node("Relu", [y], [z], name=rid())]
            x, cin = z, w
        g, f, fc, head = rid(), rid(), rid(), rid()
        inits.append(numpy_helper.from_array(
            np_rng.standard_normal((CLASSES, cin)).astype(np.float32), fc))
        nodes += [helper.make_node("GlobalAveragePool", [x], [g], name=rid()),
                  helper.make_node("Flatten", [g], [f], name=rid()),
                  helper.make_node("Gemm", [f, fc], [head], name=rid(), transB=1)]
        heads.append(head)
    out = rid()
    nodes.append(helper.make_node("Mean", heads, [out], name=rid()))
    rng.shuffle(nodes)  # a valid ONNX file need not list nodes in order
    model = _model(_toposort(nodes, inits), inits, out, CLASSES, opset=15)
    return _strip(model)


def _toposort(nodes: list[Any], inits: list[Any]) -> list[Any]:
    ready = {"input"} | {t.name for t in inits}
    ordered, pending = [], list(nodes)
    while pending:
        for node in pending:
            if all(n in ready for n in node.input):
                ordered.append(node)
                ready.update(node.output)
                pending.remove(node)
                break
    return ordered


def _duplicated_real_weights() -> onnx.ModelProto:
    """TTA whose second copy has its own, renamed weight tensors holding the same values."""
    model = export(_modules()["PlainCNN"]((8, 16)), strip=False)
    n1, i1, o1 = _copy(model, "net/", "input")
    flip, ints = _flip_nodes("input", "flipped")
    n2, i2, o2 = _copy(model, "copy/", "flipped")
    fuse = [helper.make_node("Add", [o1, o2], ["sum"], name="add"),
            helper.make_node("Div", ["sum", "two"], ["output"], name="div")]
    return _model(n1 + flip + n2 + fuse, i1 + i2 + ints + [_scalar("two", 2.0)], "output",
                  CLASSES, opset=15)


# --------------------------------------------------------------------------- the corpus


def _case(name: str, expected: str, construction: str, exporter: str, description: str,
          build: Callable[[], onnx.ModelProto]) -> Case:
    return Case(name, expected, construction, exporter, description, build)


def cases() -> list[Case]:
    """Every corpus model built by this script."""
    E, M, S = "ensemble", "multi-view", "single"
    tc = torch_case
    return [
        _case("ens_avg_logits_golden", E, "average of logits (Add, Div)", "onnx.helper",
              "golden resnet18 + mobilenet_v2 (1000 classes), logits added and divided by 2",
              _golden_avg),
        _case("ens_mean3_handbuilt", E, "Mean of three heads", "onnx.helper",
              "three plain CNNs written with onnx.helper, random node/tensor names, nodes "
              "shuffled, fused by one Mean node", _handbuilt_random),
        _case("ens_stack_reducemean", E, "stacked logits, ReduceMean", "torch (TorchScript)",
              "torch.stack([resnet, mobilenet], 1).mean(1)", tc(_ens_stack_mean)),
        _case("ens_softmax_avg_dynamo", E, "average of softmax probabilities",
              "torch dynamo", "(softmax(a) + softmax(b)) / 2", tc(_ens_softmax_avg, dynamo=True)),
        _case("ens_weighted_const", E, "weighted average, constant weights",
              "torch (TorchScript)", "0.7 * resnet(x) + 0.3 * vgg-like(x)", tc(_ens_weighted)),
        _case("ens_hard_vote", E, "hard voting (ArgMax, OneHot, sum)", "torch (TorchScript)",
              "one_hot(argmax) of three members summed", tc(_ens_vote)),
        _case("ens_max_stacked", E, "Max over stacked logits (ReduceMax)",
              "torch (TorchScript)", "torch.stack([a, b, c], 1).amax(1)", tc(_ens_max_stacked)),
        _case("ens_max_elementwise_dynamo", E, "elementwise Max of logits", "torch dynamo",
              "torch.maximum(a(x), b(x))", tc(_ens_max_elementwise, dynamo=True)),
        _case("ens_stacking_gemm", E, "stacking: Concat of logits into a Gemm",
              "torch (TorchScript)", "Linear(cat([a(x), b(x)], 1))", tc(_ens_stacking)),
        _case("ens_shared_stem", E, "members share the stem, then split",
              "torch (TorchScript)", "one conv stem, then a residual body and a depthwise body, "
              "logits averaged", tc(_ens_shared_stem)),
        _case("ens_preprocessed_inputs", E, "members fed resized / cropped copies",
              "torch (TorchScript)", "a(x) + b(resize(x, 160)) + c(crop(x, 192)), / 3",
              tc(_ens_views)),
        _case("ens_grouped_packed", E, "two networks packed in grouped convolutions",
              "torch (TorchScript)", "input concatenated with itself on channels, every conv "
              "grouped 2 ways, grouped 1x1 head, halves reshaped and averaged",
              lambda: export(_packed())),
        _case("ens_grouped_packed_split_heads", E, "packed networks, chunked into two heads",
              "torch (TorchScript)", "dense stem, then 3 networks in 3-way grouped convs; "
              "features chunked, one Linear per network, averaged",
              lambda: export(_packed(3, concat_input=False, split_heads=True))),
        _case("ens_concat_features_grouped", E, "separate networks concatenated into grouped "
              "layers", "torch (TorchScript)", "resnet-like and plain CNN features concatenated "
              "on channels, a 2-group conv, a 2-group classifier, halves averaged",
              tc(_concat_grouped)),
        _case("ens_same_arch_golden_twins", E, "one architecture twice, distinct weights",
              "onnx.helper", "two copies of golden resnet18 with distinct weight tensors, "
              "fused by Sum", _golden_twins),
        _case("ens_golden_geomean", E, "geometric mean (LogSoftmax, Sum, Div)", "onnx.helper",
              "golden mobilenet_v3_small + squeezenet1_0 + shufflenet_v2", _golden_geomean),
        _case("ens_tta_plus_model", E, "flip-TTA of one model averaged with another",
              "torch (TorchScript)", "(a(x) + a(flip(x)) + b(x)) / 3: 2 models, 3 branches",
              tc(_ens_tta_plus)),
        _case("ens_same_arch_real_weights", E, "same architecture, distinct real weights",
              "torch (TorchScript), weights kept", "two PlainCNN((8, 16)) with different "
              "weight values, averaged", lambda: export(_same_arch_real(_modules()),
                                                        strip=False)),
        _case("tta_flip", M, "flip test-time augmentation", "torch (TorchScript)",
              "(net(x) + net(x.flip(3))) / 2, 100 classes, opset 15", tc(_tta)),
        _case("tta_flip_dynamo", M, "flip test-time augmentation", "torch dynamo",
              "(net(x) + net(x.flip(3))) / 2", tc(_tta, dynamo=True)),
        _case("tta_batch_flip", M, "views stacked in the batch", "torch (TorchScript)",
              "net(cat([x, flip(x)], 0)).reshape(2, N, C).mean(0)", tc(_tta_batch)),
        _case("tta_multiscale", M, "multi-scale test-time augmentation", "torch (TorchScript)",
              "(net(x) + net(resize(x, 192))) / 2", tc(_tta_multiscale)),
        _case("tta_golden_resnet18", M, "flip TTA composed from a golden graph", "onnx.helper",
              "golden resnet18 run twice on the same weight tensors, second copy on a flipped "
              "input", _golden_tta),
        _case("tta_duplicated_real_weights", M, "TTA with weights duplicated under new names",
              "onnx.helper over a torch export, weights kept", "second copy has renamed weight "
              "tensors with identical values", _duplicated_real_weights),
        _case("single_denoiser_classifier", S, "denoiser in front of a classifier",
              "torch (TorchScript)", "x - up(down(x)) then a residual classifier",
              tc(_denoiser)),
        _case("single_fpn_fusion", S, "feature-pyramid fusion inside one backbone",
              "torch (TorchScript)", "lateral 1x1 + upsampled top-down sums, pooled, "
              "concatenated, one Linear", tc(_fpn)),
        _case("single_multi_exit_dynamo", S, "two heads on one trunk, averaged",
              "torch dynamo", "deep-supervision heads on stages 3 and 4 averaged",
              tc(_multi_exit, dynamo=True)),
        _case("single_aux_second_output", S, "auxiliary classifier as a second output",
              "torch (TorchScript)", "outputs (main, aux); aux not part of the final output",
              tc(_aux, outputs=("output", "aux"))),
        _case("single_aux_dangling", S, "auxiliary classifier left dangling", "hand edit",
              "aux output removed from graph.output, its nodes kept", _aux_dangling),
        _case("single_alexnet_groups", S, "grouped convolutions that mix in between",
              "torch (TorchScript)", "2-group convs with a dense conv between them (AlexNet "
              "style)", tc(_alexnet_groups)),
        _case("single_resnext_se_dynamo", S, "grouped convs + squeeze-excite", "torch dynamo",
              "ResNeXt-style blocks with SE", lambda: export(_modules()["TinyResNeXt"](),
                                                             dynamo=True)),
        _case("single_two_stream_features", S, "late feature fusion (documented as single)",
              "torch (TorchScript)", "two feature extractors (RGB, high-pass) concatenated "
              "before one Linear: one classifier head", tc(_two_stream)),
        _case("single_dual_normalisation", S, "two normalised copies stacked on channels",
              "torch (TorchScript)", "cat([(x-0.5)/0.25, x - mean(x)], 1) into one CNN",
              tc(_dual_norm)),
        _case("single_deit_two_heads", S, "class + distillation heads averaged (DeiT)",
              "torch (TorchScript)", "tiny DeiT: two tokens, two Linear heads averaged",
              tc(_deit)),
    ]


def golden_entries() -> dict[str, dict[str, str]]:
    """Manifest entries for the golden single architectures."""
    return {
        f"../golden/{name}.onnx": {
            "expected": "single", "construction": f"torchvision {name}",
            "exporter": "torch (TorchScript)", "description": "golden weight-free export"}
        for name in GOLDEN_SINGLES
    }


def build(selected: list[str] | None) -> None:
    """Build the selected cases (all by default) and rewrite the manifest."""
    OUT.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {}
    for case in cases():
        file = f"{case.name}.onnx"
        if not selected or case.name in selected:
            _nn().manual_seed(SEED)  # layers initialise at construction: same weights every run
            model = case.build()
            onnx.checker.check_model(model, full_check=True)
            (OUT / file).write_bytes(model.SerializeToString())
            print(f"{file}: {len(model.graph.node)} nodes, {(OUT / file).stat().st_size} bytes")
        manifest[file] = {"expected": case.expected, "construction": case.construction,
                          "exporter": case.exporter, "description": case.description}
    manifest |= golden_entries()
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def evaluate() -> int:
    """Print each model's verdict against the manifest, then precision and recall."""
    sys.path.insert(0, str(ROOT))
    from validator.graph.analysis import analyse
    from validator.graph.ensemble import detect_ensemble
    from validator.vocab import MacsConvention

    manifest = json.loads((OUT / "manifest.json").read_text())
    tp = fp = fn = tn = 0
    wrong = 0
    for file, entry in manifest.items():
        model = onnx.load(str(OUT / file))
        got = detect_ensemble(analyse(model), CLASSES, MacsConvention.PTFLOPS).verdict.value
        want = entry["expected"]
        wrong += got != want
        tp += want == got == "ensemble"
        fp += got == "ensemble" != want
        fn += want == "ensemble" != got
        tn += want != "ensemble" and got != "ensemble"
        print(f"{'ok ' if got == want else 'BAD'} {file:44s} {want:10s} {got:10s} "
              f"{entry['construction']}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"\n{len(manifest)} models: ensemble precision {precision:.3f} ({tp}/{tp + fp}), "
          f"recall {recall:.3f} ({tp}/{tp + fn}); {wrong} verdicts differ from the manifest")
    return 1 if wrong else 0


def main(argv: list[str] | None = None) -> int:
    """Build or evaluate the corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="cases to (re)build")
    parser.add_argument("--evaluate", action="store_true", help="report verdicts only")
    args = parser.parse_args(argv)
    if args.evaluate:
        return evaluate()
    _nn().set_num_threads(1)
    build(args.only)
    return evaluate()


if __name__ == "__main__":
    sys.exit(main())
