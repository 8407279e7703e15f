"""Errors of the JSON API: always a JSON body with a message a developer (or a person) can read."""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

API_PREFIX = "/api/"


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def error_response(status: int, message: str, **extra: Any):
    return jsonify({"error": message, **extra}), status


def wants_json() -> bool:
    return request.path.startswith(API_PREFIX)


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.message, **exc.extra)
