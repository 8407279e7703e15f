"""互联互通: how other systems reach Qunti and hear from it.

- API keys (:mod:`.keys`): issued and revoked by the system admin, only a hash stored, scopes
  ``orders:read``, ``orders:create``, ``orders:update``, a rate limit counted in the database;
- the JSON API under ``/api/v1/interop`` (:mod:`.api`) and its OpenAPI 3.1 document
  (:mod:`.openapi`, ``/api/v1/openapi.json``, readable at ``/api/v1/docs``);
- Open311 GeoReport v2 under ``/open311/v2`` (:mod:`.open311`);
- outbound webhooks (:mod:`.webhooks`): an outbox written in the order event's transaction, signed
  deliveries retried with backoff by ``qunti tick``.
"""
from __future__ import annotations

from flask import Blueprint

API_PREFIX = "/api/v1"


def blueprints() -> list[tuple[Blueprint, str | None, bool]]:
    """(blueprint, URL prefix, is an API without browser sessions — CSRF exempt)."""
    from qunti.integration.admin import bp as admin
    from qunti.integration.api import bp as api
    from qunti.integration.open311 import bp as open311
    from qunti.integration.openapi import bp as docs
    return [(api, API_PREFIX + "/interop", True), (docs, API_PREFIX, True), (open311, "/open311/v2", True),
            (admin, None, False)]
