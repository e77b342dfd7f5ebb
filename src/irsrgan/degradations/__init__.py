"""Degradations (transitional: the whole module, moved as is; the next commit splits it)."""

from . import ops as _ops

globals().update({k: v for k, v in vars(_ops).items() if not k.startswith("__")})
__all__ = _ops.__all__
