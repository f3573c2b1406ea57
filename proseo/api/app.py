"""FastAPI application factory: settings in, app out (OpenAPI at ``/docs``).

Every route lives under :data:`API_PREFIX` and declares the role it needs
(:mod:`proseo.api.auth`). Every error answer is one JSON document with a request id
(:mod:`proseo.api.errors`), with the status from :data:`proseo.errors.HTTP_STATUS`; a 401
carries ``WWW-Authenticate``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from proseo import __version__
from proseo.api.routes import API_PREFIX, api_routes
from proseo.config import Settings
from proseo.db import Database

__all__ = ["API_PREFIX", "api_routes", "create_app"]


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """The REST API on the database the settings name (or on ``database``)."""
    from proseo.api.accounts import router as accounts_router
    from proseo.api.auth import PUBLIC
    from proseo.api.catalogue import router as catalogue_router
    from proseo.api.errors import ERROR_RESPONSES, install_error_handlers
    from proseo.api.ingestion import router as ingestion_router
    from proseo.api.metrics import RequestMetrics
    from proseo.api.orders import router as orders_router
    from proseo.api.systematic import router as systematic_router

    app = FastAPI(
        title="proseo-py",
        version=__version__,
        description="Production control for Earth-observation satellite data. Every route "
        "needs HTTP Basic or a bearer API token, and a role in the object's mission.",
    )
    app.state.settings = settings
    app.state.database = database or Database.from_settings(settings)

    install_error_handlers(app)
    app.add_middleware(RequestMetrics)

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
        systematic_router,
        ingestion_router,
    ]
    for router in app.state.routers:
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    return app
