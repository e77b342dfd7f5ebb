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


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError("the denoise pair in an ONNX file needs the onnx package: pip "
                          "install 'irsrgan[onnx]'") from None
    return onnx


def build_pair(faithful, robust):
    """One ``onnx.ModelProto`` from two exports of the same network (``faithful`` and
    ``robust``, ModelProtos with the same nodes and initializer names): ``faithful``'s graph
    with every float initializer that differs interpolated at :data:`STRENGTH` (0)."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    graph, other = faithful.graph, robust.graph
    if [n.op_type for n in graph.node] != [n.op_type for n in other.node]:
        raise ConfigError("the two ends of the pair are not the same network (their ONNX "
                          "graphs differ)")
    theirs = {t.name: numpy_helper.to_array(t) for t in other.initializer}
    pair = onnx.ModelProto()
    pair.CopyFrom(faithful)
    del pair.graph.initializer[:]
    nodes, inits = [], []
    for tensor in graph.initializer:
        mine = numpy_helper.to_array(tensor)
        robust_value = theirs.get(tensor.name)
        if robust_value is None or robust_value.shape != mine.shape:
            raise ConfigError(f"the two ends of the pair differ in weight {tensor.name!r}")
        if mine.dtype != np.float32 or np.array_equal(mine, robust_value):
            inits.append(tensor)
            continue
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
    """The ``onnx.ModelProto`` of a pair file (weights included)."""
    try:
        return _onnx().load(str(path))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{path}: not a readable ONNX file ({exc})") from None


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
    raise ConfigError(f"this ONNX file has no {STRENGTH} initializer: not a denoise pair")
