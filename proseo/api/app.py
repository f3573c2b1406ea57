"""FastAPI application factory: settings in, app out (OpenAPI at ``/docs``).

Errors of the project's hierarchy become JSON ``{"error": class name, "message": ...,
"details": {...}}`` with the status from :data:`proseo.errors.HTTP_STATUS`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from proseo import __version__
from proseo.config import Settings
from proseo.db import Database
from proseo.errors import ProseoError, http_status_for


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """The REST API on the database the settings name (or on ``database``)."""
    from proseo.api.catalogue import router as catalogue_router
    from proseo.api.ingestion import router as ingestion_router
    from proseo.api.orders import router as orders_router

    app = FastAPI(
        title="proseo-py",
        version=__version__,
        description="Production control for Earth-observation satellite data.",
    )
    app.state.settings = settings
    app.state.database = database or Database.from_settings(settings)

    @app.exception_handler(ProseoError)
    async def _proseo_error(_request: Request, error: ProseoError) -> JSONResponse:
        return JSONResponse(
            status_code=http_status_for(error),
            content={
                "error": type(error).__name__,
                "message": error.message,
                "details": {k: v for k, v in error.details.items() if k != "value"}
                | ({"value": error.details["value"]} if "value" in error.details else {}),
            },
        )

    app.include_router(catalogue_router)
    app.include_router(orders_router)
    app.include_router(ingestion_router)
    return app
