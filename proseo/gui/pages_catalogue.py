"""GUI pages of the product catalogue: search (class, sensing time, orbit, file class; paged
by key, no count), the product page with files, lineage both ways and the mission's
quicklook."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from proseo.catalogue.products import (
    fetch_product_file,
    list_products,
    product_scope,
    product_view,
    used_by,
)
from proseo.catalogue.views import list_product_classes
from proseo.enums import UserRole
from proseo.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from proseo.gui.render import parse_int, parse_time, render, shown_mission
from proseo.gui.session import User, WebUser
from proseo.plugins import get_mission_plugin

router = APIRouter()


PAGE = 50
"""Products per page."""


@router.get("/products")
def products(
    request: Request,
    user: User,
    mission: str | None = None,
    product_class: str | None = None,
    sensing_from: str | None = None,
    sensing_to: str | None = None,
    orbit: str | None = None,
    file_class: str | None = None,
    before: str | None = None,
) -> HTMLResponse:
    """Products, newest sensing first, filtered; ``before`` is ``<sensing start>~<id>`` of
    the last product shown (keyset paging)."""
    shown = shown_mission(user, mission, UserRole.PRODUCT_READER)
    key = None
    if before:
        start, _, ident = before.partition("~")
        moment = parse_time("before", start)
        number = parse_int("before", ident, minimum=1)
        if moment is None or number is None:
            raise InvalidInputError("before", before, "expected <sensing start>~<product id>")
        key = (moment, number)
    with request.app.state.database.transaction() as session:
        page = list_products(
            session,
            mission=shown,
            product_type=product_class or None,
            sensing_from=parse_time("sensing_from", sensing_from),
            sensing_to=parse_time("sensing_to", sensing_to),
            orbit=parse_int("orbit", orbit),
            file_class=file_class or None,
            before=key,
            count=False,
            limit=PAGE,
            visibilities=None if user.principal.is_root else user.principal.visible(shown),
        )
        classes = sorted({c.product_type for c in list_product_classes(session, shown)})
    rows = page.products
    last = rows[-1] if len(rows) == PAGE else None
    filters = {
        "mission": mission or "",
        "product_class": product_class or "",
        "sensing_from": sensing_from or "",
        "sensing_to": sensing_to or "",
        "orbit": orbit or "",
        "file_class": file_class or "",
    }
    return render(
        request,
        "products.html",
        user,
        rows=rows,
        filters=filters,
        classes=classes,
        next_before=f"{_key_time(last.sensing_start)}~{last.id}" if last else None,
        mission=shown,
    )


def _key_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _readable(request: Request, user: WebUser, product_id: int) -> str:
    """The product's mission, after the reader checks of the REST API (role and the product
    class's visibility)."""
    with request.app.state.database.transaction() as session:
        mission, visibility = product_scope(session, product_id)
    user.principal.require(UserRole.PRODUCT_READER, mission)
    if visibility not in user.principal.visible(mission):
        raise PermissionDeniedError(
            f"product {product_id} is of a {visibility} product class: a wider product reader "
            f"role in mission {mission} is needed",
            mission=mission,
        )
    return mission


@router.get("/products/{product_id}")
def product_page(request: Request, user: User, product_id: int) -> HTMLResponse:
    """A product: files (sizes, MD5), parameters, lineage both ways, quicklook."""
    mission = _readable(request, user, product_id)
    with request.app.state.database.transaction() as session:
        view = product_view(session, product_id)
        users = used_by(session, product_id)
    makes = get_mission_plugin(mission).makes_quicklook(view.product_type)
    return render(
        request,
        "product.html",
        user,
        product=view,
        used_by=users,
        mission=mission,
        quicklook=makes and bool(view.files),
    )


@router.get("/products/{product_id}/quicklook.png")
def product_quicklook(request: Request, user: User, product_id: int) -> Response:
    """The mission's PNG quicklook of the product's main file (404 when the mission makes
    none for this product class)."""
    mission = _readable(request, user, product_id)
    settings = request.app.state.settings
    with tempfile.TemporaryDirectory(prefix="proseo-quicklook-") as folder:
        _mission, product_type, path = fetch_product_file(
            request.app.state.database, settings, product_id, Path(folder)
        )
        png = Path(folder) / "quicklook.png"
        if not get_mission_plugin(mission).quicklook(product_type, path, png):
            raise NotFoundError(f"mission {mission} makes no quicklook of {product_type}")
        data = png.read_bytes()
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})
