"""Qunti: a low-code form-and-rules platform for 群团 services.

Nothing here builds an app at import time; call :func:`create_app`. Plugin authors import
:data:`hookimpl` from here and everything else from :mod:`qunti.plugin_api`.
"""
from qunti.app import create_app
from qunti.hookspecs import hookimpl

__all__ = ["create_app", "hookimpl"]
