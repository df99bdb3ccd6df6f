"""The embedding model's linear layers in bf16, for CPUs that multiply bf16 in hardware.

Each linear layer of the model is replaced by one whose weight is bf16, laid out once, when the
model loads, in the blocked form oneDNN's AMX and AVX-512 BF16 kernels read (its prepacked
weights). Its input is cast to bf16 and its output stays bf16; the residual sums, the layer norms
and the pooling remain float32 (a bf16 output added to a float32 input is float32), so the
vectors agree with float32's to a cosine of 0.9999.

Measured here, on the bundled MiniLM against float32: 2.2x on passages, 2.0x on a batch of short
sentences, 1.15x on one question. torch.autocast over bf16 weights gives the same vectors, at
2.0x, 1.8x and 1.0x: autocast casts every weight again at each call, and plain bf16 weights are
laid out again by oneDNN at each call. Casting the whole model to bf16 (layer norms included)
loses accuracy: cosine 0.998 to float32. Where the CPU lacks BF16 instructions oneDNN emulates them
(measured with ONEDNN_MAX_CPU_ISA=AVX512_CORE): 0.38x float32, hence float32 there.
"""

from __future__ import annotations

import torch
from torch import nn

# The row count oneDNN lays the weights out for; it runs any count, this one only tunes the layout.
PACKED_ROWS = 32
# oneDNN makes a kernel for each count of rows it multiplies, the first time it meets that count,
# which costs about as much again as the product: a batch of 12 sentences took 34 ms the first time
# and 22 ms again. An answer's texts (a question, a dozen sentences) are each a new count, so small
# inputs are padded to a multiple of ROW_BUCKET rows, and the kernels for every multiple up to
# WARM_ROWS are made when the model loads (about 0.4 s here): then a new batch takes 27 ms.
# Larger inputs (ingest's batches of passages) are not padded: copying them costs more than their
# kernels, which their product dwarfs.
ROW_BUCKET = 32
WARM_ROWS = 1536


def can_pack() -> bool:
    """Whether oneDNN packs bf16 weights on this CPU and torch build (it needs AVX-512 or
    AVX-NE-CONVERT); where it cannot, Bf16Linear computes in plain bf16."""
    try:
        torch.ops.mkldnn._reorder_linear_weight(torch.zeros(8, 8, dtype=torch.bfloat16), PACKED_ROWS)
        return True
    except (AttributeError, RuntimeError):
        return False


class Bf16Linear(nn.Module):
    """nn.Linear computed in bf16 with a float32 bias; prepacked where oneDNN can (packed=True)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().to(torch.bfloat16)
        self.bias = None if linear.bias is None else linear.bias.detach().float()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        try:
            self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, PACKED_ROWS)
            self.packed = True
        except (AttributeError, RuntimeError):  # a torch without oneDNN's linear packing
            self.weight, self.packed = weight, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.bfloat16)
        if not self.packed:
            bias = None if self.bias is None else self.bias.to(torch.bfloat16)
            return nn.functional.linear(x, self.weight, bias)
        rows = x.reshape(-1, self.in_features)
        count = rows.shape[0]
        padded = -(-count // ROW_BUCKET) * ROW_BUCKET
        if count > WARM_ROWS or padded == count:
            out = torch.ops.mkldnn._linear_pointwise(rows, self.weight, self.bias, "none", [], "")
        else:  # zero rows below change no other row of the product
            rows = nn.functional.pad(rows, (0, 0, 0, padded - count))
            out = torch.ops.mkldnn._linear_pointwise(rows, self.weight, self.bias, "none", [], "")[:count]
        return out.reshape(*x.shape[:-1], self.out_features)


def to_bf16(model: nn.Module) -> int:
    """Replace every linear layer of the model, in place, and make oneDNN's kernels for the row
    counts small inputs are padded to; returns how many layers were replaced."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Bf16Linear(child))
                replaced += 1
    warm_up(model)
    return replaced


def warm_up(model: nn.Module) -> None:
    """Run one layer of each shape over every padded row count up to WARM_ROWS: oneDNN keeps the
    kernels it makes (by shape, not by layer), so no answer pays for making one."""
    shapes = {}
    for module in model.modules():
        if isinstance(module, Bf16Linear) and module.packed:
            shapes.setdefault((module.in_features, module.out_features), module)
    with torch.inference_mode():
        for layer in shapes.values():
            for count in range(ROW_BUCKET, WARM_ROWS + 1, ROW_BUCKET):
                layer(torch.zeros(count, layer.in_features))
