"""FastAPI application factory: settings in, app out (OpenAPI at ``/docs``).

Every route lives under :data:`API_PREFIX` and declares the role it needs
(:mod:`proseo.api.auth`). Errors of the project's hierarchy become JSON ``{"error": class
name, "category": its class in proseo.errors, "message": ..., "details": {...}}`` with the
status from :data:`proseo.errors.HTTP_STATUS`; a 401 carries ``WWW-Authenticate``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from proseo import __version__
from proseo.config import Settings
from proseo.db import Database
from proseo.errors import AuthenticationError, ProseoError, error_category, http_status_for

API_PREFIX = "/api/v1"
"""The versioned prefix of every REST route."""


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """The REST API on the database the settings name (or on ``database``)."""
    from proseo.api.accounts import router as accounts_router
    from proseo.api.auth import PUBLIC
    from proseo.api.catalogue import router as catalogue_router
    from proseo.api.ingestion import router as ingestion_router
    from proseo.api.orders import router as orders_router

    app = FastAPI(
        title="proseo-py",
        version=__version__,
        description="Production control for Earth-observation satellite data. Every route "
        "needs HTTP Basic or a bearer API token, and a role in the object's mission.",
    )
    app.state.settings = settings
    app.state.database = database or Database.from_settings(settings)

    @app.exception_handler(ProseoError)
    async def _proseo_error(_request: Request, error: ProseoError) -> JSONResponse:
        headers = (
            {"WWW-Authenticate": 'Basic realm="proseo", Bearer'}
            if isinstance(error, AuthenticationError)
            else None
        )
        return JSONResponse(
            status_code=http_status_for(error),
            content={
                "error": type(error).__name__,
                "category": error_category(error),
                "message": error.message,
                "details": {k: v for k, v in error.details.items() if k != "value"}
                | ({"value": error.details["value"]} if "value" in error.details else {}),
            },
            headers=headers,
        )

    health = APIRouter(tags=["service"])

    @health.get("/health", dependencies=[Depends(PUBLIC)])
    def get_health() -> dict[str, str]:
        """Liveness: the service answers (no login needed)."""
        return {"status": "ok", "version": __version__}

    app.state.routers = [
        health,
        accounts_router,
        catalogue_router,
        orders_router,
        ingestion_router,
    ]
    for router in app.state.routers:
        app.include_router(router, prefix=API_PREFIX)
    return app


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """Every REST route of ``app`` as (full path, route), from the routers
    :func:`create_app` included (what the route and role checks walk)."""
    return [
        (API_PREFIX + route.path, route)
        for router in app.state.routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
