"""The web app and HTTP API (transitional: the whole module, moved as is; the next commit
splits it into settings, catalog, jobs, previews and app)."""

from . import app as _app

globals().update({k: v for k, v in vars(_app).items() if not k.startswith("__")})
__all__ = _app.__all__
