"""Write a TinyGPT as an ONNX graph, from its numpy weights (``tinytorch export CKPT --format onnx``).

Built node by node with the ``onnx`` package (opset 17; no PyTorch): ``input_ids`` (int64, batch x
sequence, both axes dynamic) to ``logits`` (float, batch x sequence x vocab). The causal mask is made
in the graph from the sequence length (``Trilu``), so one file serves every length up to block_size.
Weights are initializers: Linear layers as (in, out) for ``MatMul``; the tied head reuses the token
embedding through ``Gemm(transB=1)`` instead of storing a transposed copy.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinytorch_core.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from plugins.language.model import TinyGPT

__all__ = ["export_onnx", "build_onnx", "OPSET"]

OPSET = 17  # LayerNormalization is in the default domain from 17 on
_PROTOBUF_LIMIT = 2**31 - 1


class _Graph:
    """Accumulates nodes and initializers, naming every intermediate value uniquely."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def const(self, name: str, array: np.ndarray[Any, Any]) -> str:
        # np.asarray, not np.ascontiguousarray: the latter turns 0-d arrays (scalars, gather indices) into (1,).
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array, order="C"), name))
        return name

    def op(self, kind: str, *inputs: str, outputs: int = 1, **attrs: Any) -> Any:
        self._count += 1
        names = [f"{kind.lower()}_{self._count}" + (f"_{i}" if outputs > 1 else "") for i in range(outputs)]
        self.nodes.append(self.helper.make_node(kind, list(inputs), names, **attrs))
        return names[0] if outputs == 1 else names


def _gelu(g: _Graph, x: str, kind: str, dtype: np.dtype[Any]) -> str:
    half, one = g.const(f"half_{x}", np.array(0.5, dtype)), g.const(f"one_{x}", np.array(1.0, dtype))
    if kind == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.op("Mul", g.op("Mul", x, x), x)
        inner = g.op("Add", x, g.op("Mul", cube, g.const(f"c_{x}", np.array(0.044715, dtype))))
        t = g.op("Tanh", g.op("Mul", inner, g.const(f"k_{x}", np.array(math.sqrt(2.0 / math.pi), dtype))))
    else:  # 0.5 x (1 + erf(x / sqrt(2)))
        t = g.op("Erf", g.op("Mul", x, g.const(f"r_{x}", np.array(1.0 / math.sqrt(2.0), dtype))))
    return str(g.op("Mul", g.op("Mul", x, half), g.op("Add", t, one)))


def build_onnx(model: TinyGPT) -> Any:
    """The ``onnx.ModelProto`` computing ``model(input_ids).data`` (checked by ``onnx.checker``)."""
    import onnx
    from onnx import TensorProto, helper

    c = model.config
    params = {name: p.data for name, p in model.named_parameters()}
    dtype = params["token_embedding.weight"].dtype
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"export: ONNX export supports float32 and float64 weights, not {dtype}")
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    g = _Graph()
    heads, head_dim = c.num_heads, c.d_model // c.num_heads

    def linear(x: str, prefix: str) -> str:
        weight = g.const(f"{prefix}.weight_t", params[f"{prefix}.weight"].T)
        out = g.op("MatMul", x, weight)
        bias = params.get(f"{prefix}.bias")
        return out if bias is None else str(g.op("Add", out, g.const(f"{prefix}.bias", bias)))

    def layer_norm(x: str, prefix: str) -> str:
        return str(g.op("LayerNormalization", x, g.const(f"{prefix}.weight", params[f"{prefix}.weight"]),
                        g.const(f"{prefix}.bias", params[f"{prefix}.bias"]), axis=-1, epsilon=float(c.layer_norm_eps)))

    wte = g.const("token_embedding.weight", params["token_embedding.weight"])
    shape = g.op("Shape", "input_ids")
    length = g.op("Shape", "input_ids", start=1, end=2)  # [T], 1-D
    steps = g.op("Squeeze", length, g.const("axis0", np.array([0], np.int64)))  # T, a scalar for Range
    positions = g.op("Range", g.const("zero", np.array(0, np.int64)), steps, g.const("step", np.array(1, np.int64)))
    x = g.op("Add", g.op("Gather", wte, "input_ids", axis=0),
             g.op("Gather", g.const("position.weight", params["position.weight"]), positions, axis=0))
    square = g.op("Concat", length, length, axis=0)
    ones = g.op("ConstantOfShape", square, value=helper.make_tensor("one_bool", TensorProto.BOOL, [1], [True]))
    causal = g.op("Cast", g.op("Trilu", g.op("Cast", ones, to=TensorProto.INT64), upper=0), to=TensorProto.BOOL)
    masked = g.const("masked", np.array(-np.inf, dtype))
    split_heads = g.const("split_heads", np.array([0, 0, 3, heads, head_dim], np.int64))
    merge_heads = g.const("merge_heads", np.array([0, 0, c.d_model], np.int64))
    scale = g.const("scale", np.array(1.0 / math.sqrt(head_dim), dtype))
    for layer in range(c.num_layers):
        p = f"blocks.{layer}"
        qkv = g.op("Transpose", g.op("Reshape", linear(layer_norm(x, f"{p}.ln1"), f"{p}.attention.qkv"), split_heads),
                   perm=[2, 0, 3, 1, 4])  # (3, B, H, T, hd)
        q, k, v = (g.op("Gather", qkv, g.const(f"{p}.index{i}", np.array(i, np.int64)), axis=0) for i in range(3))
        scores = g.op("Mul", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), scale)
        probs = g.op("Softmax", g.op("Where", causal, scores, masked), axis=-1)
        mixed = g.op("Reshape", g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3]), merge_heads)
        x = g.op("Add", x, linear(mixed, f"{p}.attention.proj"))
        hidden = _gelu(g, linear(layer_norm(x, f"{p}.ln2"), f"{p}.feedforward.0"), c.gelu_approximate, dtype)
        x = g.op("Add", x, linear(hidden, f"{p}.feedforward.2"))
    final = layer_norm(x, "ln_f")
    head = wte if c.tie_weights else g.const("lm_head.weight", params["lm_head.weight"])
    flat = g.op("Reshape", final, g.const("rows", np.array([-1, c.d_model], np.int64)))
    out_shape = g.op("Concat", g.op("Slice", shape, g.const("s0", np.array([0], np.int64)),
                                    g.const("s2", np.array([2], np.int64))),
                     g.const("vocab", np.array([c.vocab_size], np.int64)), axis=0)
    g.nodes.append(helper.make_node("Reshape", [g.op("Gemm", flat, head, transB=1), out_shape], ["logits"]))
    graph = helper.make_graph(
        g.nodes, "tinygpt",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", elem, ["batch", "sequence", c.vocab_size])],
        initializer=g.initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tinytorch")
    proto.ir_version = 8  # the IR version of opset 17: readable by onnxruntime releases since 1.13
    if proto.ByteSize() < _PROTOBUF_LIMIT:
        onnx.checker.check_model(proto, full_check=True)  # includes strict shape inference
    return proto


def export_onnx(model: TinyGPT, out: str | os.PathLike[str]) -> Path:
    """Write ``model`` as one ``.onnx`` file at ``out`` (atomically); graphs over 2 GB are refused."""
    target = Path(out)
    proto = build_onnx(model)
    size = proto.ByteSize()
    if size >= _PROTOBUF_LIMIT:
        raise ValueError(f"export: the ONNX graph would be {size / 2**30:.1f} GiB, over protobuf's 2 GiB limit for one file")
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, proto.SerializeToString())
    return target
