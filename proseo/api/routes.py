"""The versioned prefix of the REST API and the walk over its routes (used by the error
handlers for ``Allow``, and by the tests that check every route declares a role)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

API_PREFIX = "/api/v1"
"""The versioned prefix of every REST route."""


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Every REST route of ``app`` as (full path, route), from the routers
    :func:`proseo.api.app.create_app` included (``app.state.routers``)."""
    return [
        (API_PREFIX + route.path, route)
        for router in app.state.routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
