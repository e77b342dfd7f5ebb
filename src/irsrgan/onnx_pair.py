"""The denoise pair in one ONNX file, its strength set without PyTorch.

``irsrgan export`` of a faithful model that names a robust end (the default model) writes
both ends' weights into one graph: each weight and bias that differs between them is
computed in the graph as ``(1 - strength) * faithful + strength * robust`` (network
interpolation, as :func:`irsrgan.interpolate.interpolate_models`), where ``strength`` is an
initializer, :data:`STRENGTH`, stored as 0. The file therefore runs anywhere as the faithful
end, and ONNX Runtime and OpenVINO fold the interpolation into constant weights when they load
it: the pair runs as fast as one model. :func:`at_strength` writes another strength into a
copy (strength 0 and 1 give either end's weights exactly), which is how
:class:`~irsrgan.onnx_upscaler.OnnxUpscaler` runs ``--denoise auto`` without PyTorch.
Needs the ``onnx`` package (in both the ``onnx`` and the ``openvino`` extras).
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError

#: the initializer holding the strength, 0 (faithful) to 1 (robust)
STRENGTH = "irsrgan.strength"
#: ``irsrgan.denoise`` metadata of a pair file
PAIR = "pair"
_ONE = "irsrgan.one"
_KEEP = "irsrgan.one_minus_strength"


def require_onnx():
    """The ``onnx`` package, or a clear error saying which extra brings it."""
    try:
        import onnx
    except ImportError:
        raise ConfigError("the denoise pair in an ONNX file needs the onnx package: pip "
                          "install 'irsrgan[onnx]'") from None
    return onnx


def _same_network(graph, other) -> None:
    """Raise unless the two graphs have the same nodes (operator, inputs, outputs,
    attributes) and the same initializer names and shapes: two exports of one network."""
    def nodes(g):
        return [(n.op_type, list(n.input), list(n.output),
                 [a.SerializeToString() for a in n.attribute]) for n in g.node]

    def shapes(g):
        return {t.name: tuple(t.dims) for t in g.initializer}

    if nodes(graph) != nodes(other):
        raise ConfigError("the two ends of the pair are not the same network (their ONNX "
                          "graphs' nodes differ)")
    mine, theirs = shapes(graph), shapes(other)
    if mine != theirs:
        name = sorted(set(mine.items()) ^ set(theirs.items()))[0][0]
        raise ConfigError(f"the two ends of the pair differ in weight {name!r}")


def build_pair(faithful, robust):
    """One ``onnx.ModelProto`` from two exports of the same network (``faithful`` and
    ``robust``: the same nodes, initializer names and shapes): ``faithful``'s graph with every
    float32 initializer that differs interpolated at :data:`STRENGTH` (0). A differing
    initializer of another type cannot be interpolated and is refused."""
    onnx = require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    graph, other = faithful.graph, robust.graph
    _same_network(graph, other)
    theirs = {t.name: numpy_helper.to_array(t) for t in other.initializer}
    pair = onnx.ModelProto()
    pair.CopyFrom(faithful)
    del pair.graph.initializer[:]
    nodes, inits = [], []
    for tensor in graph.initializer:
        mine, robust_value = numpy_helper.to_array(tensor), theirs[tensor.name]
        if mine.dtype != robust_value.dtype:
            raise ConfigError(f"the two ends of the pair differ in the type of weight "
                              f"{tensor.name!r}")
        if np.array_equal(mine, robust_value):
            inits.append(tensor)
            continue
        if mine.dtype != np.float32:
            raise ConfigError(f"the two ends of the pair differ in {tensor.name!r}, a "
                              f"{mine.dtype} tensor that cannot be interpolated")
        f, r = f"{tensor.name}::faithful", f"{tensor.name}::robust"
        inits += [numpy_helper.from_array(mine, f), numpy_helper.from_array(robust_value, r)]
        nodes += [helper.make_node("Mul", [f, _KEEP], [f"{f}*"]),
                  helper.make_node("Mul", [r, STRENGTH], [f"{r}*"]),
                  helper.make_node("Add", [f"{f}*", f"{r}*"], [tensor.name])]
    inits += [helper.make_tensor(STRENGTH, TensorProto.FLOAT, [], [0.0]),
              helper.make_tensor(_ONE, TensorProto.FLOAT, [], [1.0])]
    nodes.insert(0, helper.make_node("Sub", [_ONE, STRENGTH], [_KEEP]))
    pair.graph.initializer.extend(inits)
    del pair.graph.node[:]
    pair.graph.node.extend(nodes + list(graph.node))
    return pair


def is_pair(metadata: dict[str, str]) -> bool:
    """Whether a graph's ``metadata_props`` say it is a pair file."""
    return metadata.get("irsrgan.denoise") == PAIR


def load(path) -> object:
    """The ``onnx.ModelProto`` of the pair file ``path`` (weights included), checked to hold
    its strength initializer."""
    try:
        onnx = require_onnx()
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        pair = onnx.load(str(path))
    except Exception as exc:
        raise ConfigError(f"{path}: not a readable ONNX file ({exc})") from None
    if not any(t.name == STRENGTH for t in pair.graph.initializer):
        raise ConfigError(f"{path}: says it is a denoise pair but has no {STRENGTH} "
                          "initializer (was it rewritten by an optimiser?); export it again "
                          "with `irsrgan export`")
    return pair


def at_strength(pair, strength: float) -> bytes:
    """``pair`` (from :func:`load`) with :data:`STRENGTH` set to ``strength``, serialised."""
    from onnx import numpy_helper

    if not 0.0 <= strength <= 1.0:
        raise ConfigError(f"denoise strength must be in [0, 1], got {strength}")
    copy = type(pair)()
    copy.CopyFrom(pair)
    for i, tensor in enumerate(copy.graph.initializer):
        if tensor.name == STRENGTH:
            copy.graph.initializer[i].CopyFrom(
                numpy_helper.from_array(np.array(strength, np.float32), STRENGTH))
            return copy.SerializeToString()
    raise ConfigError(f"this ONNX graph has no {STRENGTH} initializer: not a denoise pair")
