"""One error document for every error answer of the REST API, with a request id.

Every error, whether raised by a service (:class:`ProseoError`), found by request
validation, by routing (unknown path, wrong method) or unexpected, is answered as an
:class:`ErrorBody`: ``{"error": class name, "category": its class in proseo.errors,
"message": one sentence, "details": {"field", "value", ..., "request_id"}}``. The request
id comes from the ``X-Request-ID`` header (up to 64 characters of letters, digits, ``.``,
``_``, ``-``) or is made new; it is sent back in that header and written with every logged
error, so an operator can find the log line of an answer.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from proseo.api.routes import api_routes
from proseo.errors import AuthenticationError, ProseoError, error_category, http_status_for

log = logging.getLogger("proseo.api")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class ErrorBody(BaseModel):
    """The error document of every error answer."""

    error: str
    category: str
    message: str
    details: dict[str, Any]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "The request body cannot be parsed."),
        (401, "No valid credentials (HTTP Basic or a bearer API token)."),
        (403, "The user lacks the role in the object's mission, or separation of duties."),
        (404, "No such object."),
        (409, "The object's state does not allow it, or it conflicts with stored data."),
        (413, "An uploaded file is over the size limit."),
        (422, "Invalid input: the field and the value are named."),
        (500, "Unexpected error: quote the request id."),
    )
}
"""The error answers every route may give, for the OpenAPI document."""


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def _body(
    request: Request, name: str, category: str, message: str, details: dict[str, Any]
) -> dict[str, Any]:
    return {
        "error": name,
        "category": category,
        "message": message,
        "details": {**details, "request_id": _request_id(request)},
    }


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data (FastAPI's encoder; text for what it cannot encode)."""
    try:
        return jsonable_encoder(value)
    except (TypeError, ValueError):
        return str(value)


def _over_body_limit(request: Request) -> str | None:
    """Why the request body is refused unread, or ``None``: a declared ``Content-Length``
    over ``limits.max_request_bytes`` (file uploads have their own, per-file limit)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return None
    limit: int = request.app.state.settings.limits.max_request_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return (
            f"the request body of {declared} bytes is over the limit of {limit} bytes "
            "(setting limits.max_request_bytes)"
        )
    return None


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route offers on the request's path (for ``Allow`` of a 405)."""
    from starlette.routing import compile_path

    methods: set[str] = set()
    for path, route in api_routes(request.app):
        if compile_path(path)[0].match(request.url.path):
            methods.update(route.methods or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with an :class:`ErrorBody` and a request id."""

    @app.middleware("http")
    async def _with_request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get("x-request-id", "")
        request.state.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        too_large = _over_body_limit(request)
        if too_large is not None:
            response: Response = JSONResponse(
                status_code=413,
                content=_body(request, "RequestTooLarge", "InvalidInputError", too_large, {}),
            )
            response.headers["X-Request-ID"] = request.state.request_id
            return response
        try:
            response = await call_next(request)
        except Exception:
            log.exception("request %s %s failed [request id %s]", request.method,
                          request.url.path, request.state.request_id)  # fmt: skip
            response = JSONResponse(
                status_code=500,
                content=_body(
                    request,
                    "InternalError",
                    ProseoError.__name__,
                    "unexpected server error; quote request id "
                    f"{request.state.request_id} to the operator",
                    {},
                ),
            )
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.exception_handler(ProseoError)
    async def _proseo_error(request: Request, error: ProseoError) -> JSONResponse:
        status = http_status_for(error)
        if status >= 500:
            log.error("%s [request id %s]", error.message, _request_id(request))
        headers = (
            {"WWW-Authenticate": 'Basic realm="proseo", Bearer'}
            if isinstance(error, AuthenticationError)
            else None
        )
        details = {k: _jsonable(v) for k, v in error.details.items()}
        return JSONResponse(
            status_code=status,
            content=_body(
                request, type(error).__name__, error_category(error), error.message, details
            ),
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = list(error.errors())
        first = problems[0] if problems else {"loc": ("request",), "msg": "invalid"}
        where = [str(p) for p in first.get("loc", ())]
        field = ".".join(where[1:] if len(where) > 1 else where) or "request"
        value = _jsonable(first.get("input"))
        message = f"invalid {field} {value!r}: {first.get('msg')}"
        if len(problems) > 1:
            message += f" (and {len(problems) - 1} more)"
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg"))}
            for e in problems
        ]
        return JSONResponse(
            status_code=422,
            content=_body(
                request,
                "InvalidInputError",
                "InvalidInputError",
                message,
                {"field": field, "value": value, "errors": errors},
            ),
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        names = {404: ("NotFound", "NotFoundError"), 405: ("MethodNotAllowed", "ProseoError")}
        name, category = names.get(error.status_code, ("HTTPError", "ProseoError"))
        message = (
            f"no route {request.method} {request.url.path}"
            if error.status_code == 404
            else f"{request.method} is not allowed on {request.url.path}"
            if error.status_code == 405
            else str(error.detail)
        )
        headers = dict(getattr(error, "headers", None) or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(
            status_code=error.status_code,
            content=_body(request, name, category, message, {}),
            headers=headers or None,
        )
