"""Multiply-adds of a PyTorch module exactly as ptflops 0.6.8 counts them (mirrored, not
pinned: ptflops is not a dependency; the table below restates its ``pytorch_ops.py`` of tag
v0.6.8, the version of the official checker).

The counting rules of 0.6.8, in short:

* a forward hook on each module whose *exact* type (not a subclass) is in the table adds its
  formula on every call; a module used twice counts twice;
* a counted module's children are not visited (nn.MultiheadAttention's out_proj is inside its
  formula); an uncounted module sums its children; functional calls (F.conv2d, matmul, +) in a
  ``forward`` count nothing;
* the model is put in eval mode and run once on a (1, 3, 224, 224) batch; the total is divided
  by the batch size seen by the top module (1). Parameters: trainable ones only.

Runs only in the confined child (imports torch).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Hook = Callable[[Any, tuple[Any, ...], Any], int]


def _numel(shape: Any) -> int:
    return int(math.prod(int(d) for d in shape))


def _elementwise(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return int(output.numel())  # ReLU and friends: one per output element


def _upsample(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    first = output[0]  # 0.6.8 takes output[0] (the first sample) and its shape from there
    return _numel(first.shape)


def _linear(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    last = int(output.shape[-1])
    bias = last if module.bias is not None else 0
    return _numel(inputs[0].shape) * last + bias


def _pool(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    return _numel(inputs[0].shape)


def _norm(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    count = _numel(inputs[0].shape)
    return count * 2 if getattr(module, "affine", False) else count


def _conv(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    batch = int(inputs[0].shape[0])
    positions = batch * _numel(output.shape[2:])
    out_channels = int(module.out_channels)
    per_position = _numel(module.kernel_size) * int(module.in_channels)
    per_position *= out_channels // int(module.groups)
    bias = out_channels * positions if module.bias is not None else 0
    return per_position * positions + bias


def _rnn_layer(module: Any, w_ih: Any, w_hh: Any, kind: str) -> int:
    flops = _numel(w_ih.shape) + _numel(w_hh.shape)
    hidden = int(module.hidden_size)
    extra = {
        "rnn": hidden,
        "gru": hidden + 3 * hidden + 3 * hidden,
        "lstm": 4 * hidden + 6 * hidden,
    }
    return flops + extra[kind]


def _rnn_kind(module: Any) -> str:
    name = type(module).__name__
    return "gru" if name.startswith("GRU") else "lstm" if name.startswith("LSTM") else "rnn"


def _rnn(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    seq = inputs[0]
    batch, length = int(seq.shape[0]), int(seq.shape[1])  # 0.6.8 assumes batch first
    total = 0
    for layer in range(module.num_layers):
        w_ih = getattr(module, f"weight_ih_l{layer}")
        w_hh = getattr(module, f"weight_hh_l{layer}")
        total += _rnn_layer(module, w_ih, w_hh, _rnn_kind(module))
        if module.bias:
            total += int(getattr(module, f"bias_ih_l{layer}").shape[0])
            total += int(getattr(module, f"bias_hh_l{layer}").shape[0])
    total *= batch * length
    return total * 2 if module.bidirectional else total


def _rnn_cell(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    total = _rnn_layer(module, module.weight_ih, module.weight_hh, _rnn_kind(module))
    if module.bias:
        total += int(module.bias_ih.shape[0]) + int(module.bias_hh.shape[0])
    return total * int(inputs[0].shape[0])


def _attention(module: Any, inputs: tuple[Any, ...], output: Any) -> int:
    q, k, v = inputs[:3]
    batch_first = bool(getattr(module, "batch_first", False))
    batch = int(q.shape[0] if batch_first else q.shape[1])
    at = 1 if batch_first else 0
    qlen, klen, vlen = int(q.shape[at]), int(k.shape[at]), int(v.shape[at])
    qdim, kdim, vdim = int(q.shape[2]), int(k.shape[2]), int(v.shape[2])
    heads = int(module.num_heads)
    flops = qlen * qdim + qlen * qdim * qdim + klen * kdim * kdim + vlen * vdim * vdim
    if module.in_proj_bias is not None:
        flops += (qlen + klen + vlen) * qdim
    per_head = qlen * klen * (qdim // heads) + qlen * klen + qlen * klen * (vdim // heads)
    flops += heads * per_head + qlen * vdim * (vdim + 1)
    return flops * batch


_TABLE: dict[str, Hook] = {
    **dict.fromkeys(("Conv1d", "Conv2d", "Conv3d"), _conv),
    **dict.fromkeys(("ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"), _conv),
    **dict.fromkeys(("ReLU", "PReLU", "ELU", "LeakyReLU", "ReLU6", "GELU"), _elementwise),
    **dict.fromkeys(
        (
            "MaxPool1d",
            "AvgPool1d",
            "AvgPool2d",
            "MaxPool2d",
            "MaxPool3d",
            "AvgPool3d",
            "AdaptiveMaxPool1d",
            "AdaptiveAvgPool1d",
            "AdaptiveMaxPool2d",
            "AdaptiveAvgPool2d",
            "AdaptiveMaxPool3d",
            "AdaptiveAvgPool3d",
        ),
        _pool,
    ),
    **dict.fromkeys(
        (
            "BatchNorm1d",
            "BatchNorm2d",
            "BatchNorm3d",
            "InstanceNorm1d",
            "InstanceNorm2d",
            "InstanceNorm3d",
            "GroupNorm",
        ),
        _norm,
    ),
    "Linear": _linear,
    "Upsample": _upsample,
    **dict.fromkeys(("RNN", "GRU", "LSTM"), _rnn),
    **dict.fromkeys(("RNNCell", "LSTMCell", "GRUCell"), _rnn_cell),
    "MultiheadAttention": _attention,
}


def _counted_types(nn: Any) -> dict[type, Hook]:
    """The table keyed by the torch.nn classes themselves (exact types, as 0.6.8 matches)."""
    return {getattr(nn, name): hook for name, hook in _TABLE.items() if hasattr(nn, name)}


def trainable_params(model: Any) -> int:
    """Parameters with requires_grad, as ptflops 0.6.8 (and so the checker) counts them."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def count_macs(model: Any, torch: Any, size: int = 224) -> int:
    """ptflops 0.6.8's multiply-adds of ``model`` for one (1, 3, size, size) image."""
    table = _counted_types(torch.nn)
    totals: dict[int, int] = {}
    handles = []
    for module in model.modules():
        hook = table.get(type(module))
        if hook is not None:
            handles.append(module.register_forward_hook(_adder(totals, hook)))
    model.eval()
    try:
        dtype = next(iter(model.parameters())).dtype
    except StopIteration:
        dtype = torch.float32
    try:
        with torch.no_grad():
            model(torch.zeros((1, 3, size, size), dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
    return _accumulate(model, table, totals)


def _adder(totals: dict[int, int], hook: Hook) -> Callable[..., None]:
    def add(module: Any, inputs: tuple[Any, ...], output: Any) -> None:
        totals[id(module)] = totals.get(id(module), 0) + int(hook(module, inputs, output))

    return add


def _accumulate(module: Any, table: dict[type, Hook], totals: dict[int, int]) -> int:
    if type(module) in table:
        return totals.get(id(module), 0)
    return sum(_accumulate(child, table, totals) for child in module.children())
