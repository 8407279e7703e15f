"""Qunti: a low-code form-and-rules platform for 群团 services.

Nothing here builds an app at import time; call :func:`create_app`.
"""
from qunti.app import create_app

__all__ = ["create_app"]
