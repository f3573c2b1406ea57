"""The web application ``proseo serve`` runs: the REST API under ``/api/v1`` and the mission
operator's GUI at ``/`` beside it, both calling the same service functions.

The GUI is rendered on the server (Jinja2) and updated in place with htmx; its static
assets (htmx, Chart.js, Pico CSS) are vendored in ``proseo/gui/static`` so it works without
internet. Errors on GUI pages are answered as an HTML page with the same status the REST API
would give (:data:`proseo.errors.HTTP_STATUS`); errors under the API prefix keep the API's
JSON error document.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from proseo.api.app import create_app
from proseo.api.routes import API_PREFIX
from proseo.config import Settings
from proseo.db import Database
from proseo.errors import ProseoError, http_status_for
from proseo.gui.render import error_page
from proseo.gui.session import LoginNeeded, login_path

HERE = Path(__file__).parent

Handler = Callable[[Request, Any], Awaitable[Response]]
AnyHandler = Callable[[Request, Any], Response | Awaitable[Response]]


def create_web_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """The REST API (:func:`proseo.api.app.create_app`) with the GUI's pages and static
    files added."""
    from proseo.gui.pages import router as pages_router
    from proseo.gui.pages_catalogue import router as catalogue_router
    from proseo.gui.pages_config import router as config_router
    from proseo.gui.pages_orders import router as orders_router

    app = create_app(settings, database)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.gui_routers = [pages_router, orders_router, catalogue_router, config_router]
    for router in app.state.gui_routers:
        app.include_router(router, include_in_schema=False)

    api_error = app.exception_handlers[ProseoError]
    api_http = app.exception_handlers[HTTPException]

    def for_pages(api_handler: AnyHandler, status_of: Callable[[Any], int]) -> Handler:
        async def handler(request: Request, error: Any) -> Response:
            if request.url.path.startswith(API_PREFIX + "/"):
                answer = api_handler(request, error)
                return answer if isinstance(answer, Response) else await answer
            return error_page(request, status_of(error), _message(error))

        return handler

    app.add_exception_handler(ProseoError, for_pages(api_error, http_status_for))
    app.add_exception_handler(HTTPException, for_pages(api_http, lambda e: e.status_code))

    @app.exception_handler(LoginNeeded)
    async def _login(request: Request, error: LoginNeeded) -> Response:
        target = login_path(error.next_path)
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    return app


def _message(error: Any) -> str:
    if isinstance(error, ProseoError):
        return error.message
    if isinstance(error, HTTPException):
        if error.status_code == 404:
            return "there is no such page"
        return str(error.detail)
    return str(error)
