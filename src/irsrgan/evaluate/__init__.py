"""Evaluation (transitional: the whole module, moved as is; the next commit splits it into
methods, items, scores, report and run)."""

from . import run as _run

globals().update({k: v for k, v in vars(_run).items() if not k.startswith("__")})
__all__ = _run.__all__
