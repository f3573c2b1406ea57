"""Read-only views of orders, jobs and job steps (CLI ``order list|show``, ``jobstep show``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from proseo.enums import JobStepState, OrderState
from proseo.errors import NotFoundError
from proseo.model import (
    Job,
    JobStep,
    Mission,
    ProcessingOrder,
    Product,
    ProductClass,
    ProductQuery,
)
from proseo.model.base import utc_now
from proseo.model.order import product_query_satisfying_product


class OrderRow(BaseModel):
    """One line of ``proseo order list``."""

    id: int
    mission: str
    identifier: str
    state: str
    requested: list[str]
    slicing: str
    start: datetime | None
    stop: datetime | None
    jobs: int
    job_steps: int


class JobStepRow(BaseModel):
    """A job step inside ``proseo order show``."""

    id: int
    job: int
    window: str
    output: str
    state: str
    inputs_satisfied: str
    attempt: int
    duration_s: float | None


class OrderProductRow(BaseModel):
    """A product an order made (or is making), with its file and lineage."""

    id: int
    product_type: str
    job_step: int
    file_name: str | None
    size_bytes: int | None
    md5: str | None
    made_from: str


class OrderView(OrderRow):
    """An order in detail, with its job steps and their states."""

    state_message: str | None
    processing_mode: str | None
    file_class: str | None
    priority: int
    steps_by_state: dict[str, int]
    job_steps_detail: list[JobStepRow]


class QueryView(BaseModel):
    """One input of a job step."""

    product_type: str
    rule: str | None
    mandatory: bool
    satisfied: bool
    products: list[str]


class JobStepView(BaseModel):
    """A job step in detail (``proseo jobstep show``)."""

    id: int
    order: str
    job: int
    state: str
    window: str
    configured_processor: str | None
    attempt: int
    transient_failures: int = 0
    """Runs of ``attempt`` that failed because the storage was unreachable (requeued, not
    counted against the order's ``max_retries``)."""
    held_until: datetime | None = None
    """A READY step requeued after such a failure is not dispatched before this time (UTC)."""
    inputs: list[QueryView]
    outputs: list[str]
    exit_code: int | None
    processing_start: datetime | None
    processing_completion: datetime | None
    log: str | None


def _window(start: datetime, stop: datetime) -> str:
    return f"{start:%Y-%m-%dT%H:%M:%S.%fZ} .. {stop:%Y-%m-%dT%H:%M:%S.%fZ}"


def list_orders(
    session: Session,
    mission: str | None = None,
    order_id: int | None = None,
    *,
    order_ids: list[int] | None = None,
) -> list[OrderRow]:
    """Orders (all, of a mission, the one with ``order_id`` or those of ``order_ids``), newest
    first, with job and job step counts."""
    ids = order_ids if order_ids is not None else None if order_id is None else [order_id]
    scope = [] if ids is None else [Job.processing_order_id.in_(ids)]
    jobs = (
        select(Job.processing_order_id, func.count(Job.id).label("n"))
        .where(*scope)
        .group_by(Job.processing_order_id)
        .subquery()
    )
    steps = (
        select(Job.processing_order_id, func.count(JobStep.id).label("n"))
        .join(JobStep, JobStep.job_id == Job.id)
        .where(*scope)
        .group_by(Job.processing_order_id)
        .subquery()
    )
    query = (
        select(ProcessingOrder, Mission.code, jobs.c.n, steps.c.n)
        .join(Mission)
        .outerjoin(jobs, jobs.c.processing_order_id == ProcessingOrder.id)
        .outerjoin(steps, steps.c.processing_order_id == ProcessingOrder.id)
        .options(selectinload(ProcessingOrder.requested_product_classes))
        .order_by(ProcessingOrder.id.desc())
    )
    if mission:
        query = query.where(Mission.code == mission)
    if ids is not None:
        query = query.where(ProcessingOrder.id.in_(ids))
    return [
        OrderRow(
            id=o.id,
            mission=code,
            identifier=o.identifier,
            state=o.state.value,
            requested=sorted(pc.product_type for pc in o.requested_product_classes),
            slicing=o.slicing_type.value,
            start=o.start_time,
            stop=o.stop_time,
            jobs=n_jobs or 0,
            job_steps=n_steps or 0,
        )
        for o, code, n_jobs, n_steps in session.execute(query)
    ]


def order_page(
    session: Session,
    *,
    mission: str | None = None,
    states: list[OrderState] | None = None,
    product_type: str | None = None,
    identifier: str | None = None,
    sensing_from: datetime | None = None,
    sensing_to: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[OrderRow]:
    """One page of orders, newest first (keyset paging: ``before_id`` is the last id shown),
    filtered by mission, states, a requested product type, a part of the identifier (case
    blind) and the window meeting ``[sensing_from, sensing_to)`` (UTC); job and job step
    counts only for the page's orders, so a page costs the same however many orders exist.
    """
    query = select(ProcessingOrder.id).order_by(ProcessingOrder.id.desc()).limit(limit)
    if mission:
        query = query.where(
            ProcessingOrder.mission_id
            == select(Mission.id).where(Mission.code == mission).scalar_subquery()
        )
    if states:
        query = query.where(ProcessingOrder.state.in_(states))
    if product_type:
        query = query.where(
            ProcessingOrder.requested_product_classes.any(ProductClass.product_type == product_type)
        )
    if identifier:
        query = query.where(func.lower(ProcessingOrder.identifier).contains(identifier.lower()))
    if sensing_from is not None:
        query = query.where(ProcessingOrder.stop_time > sensing_from)
    if sensing_to is not None:
        query = query.where(ProcessingOrder.start_time < sensing_to)
    if before_id is not None:
        query = query.where(ProcessingOrder.id < before_id)
    ids = list(session.scalars(query))
    return list_orders(session, order_ids=ids) if ids else []


def order_view(
    session: Session,
    order_id: int,
    *,
    limit: int = 200,
    offset: int = 0,
    state: JobStepState | None = None,
) -> OrderView:
    """An order with up to ``limit`` job steps from ``offset`` (in job window order), only
    those in ``state`` when given; ``limit=0`` reads no job step rows, only the counts.

    :raises NotFoundError: for an unknown id."""
    rows = list_orders(session, order_id=order_id)
    if not rows:
        raise NotFoundError(f"no processing order with id {order_id}")
    order = session.get(ProcessingOrder, order_id)
    assert order is not None
    by_state = dict(
        session.execute(
            select(JobStep.state, func.count(JobStep.id))
            .join(Job)
            .where(Job.processing_order_id == order_id)
            .group_by(JobStep.state)
        ).all()
    )
    page = list(
        session.scalars(
            select(JobStep.id)
            .join(Job, JobStep.job_id == Job.id)
            .where(
                Job.processing_order_id == order_id,
                *([] if state is None else [JobStep.state == state]),
            )
            .order_by(Job.start_time, JobStep.id)
            .offset(offset)
            .limit(limit)
        )
    )
    open_queries: dict[int, int] = {}
    all_queries: dict[int, int] = {}
    for step_id, mandatory, satisfied, count in session.execute(
        select(
            ProductQuery.job_step_id,
            ProductQuery.is_mandatory,
            ProductQuery.is_satisfied,
            func.count(ProductQuery.id),
        )
        .where(ProductQuery.job_step_id.in_(page))
        .group_by(ProductQuery.job_step_id, ProductQuery.is_mandatory, ProductQuery.is_satisfied)
    ):
        all_queries[step_id] = all_queries.get(step_id, 0) + count
        if mandatory and not satisfied:
            open_queries[step_id] = open_queries.get(step_id, 0) + count

    def satisfied_of(step_id: int) -> str:
        queries = all_queries.get(step_id, 0)
        return f"{queries - open_queries.get(step_id, 0)}/{queries}"

    detail = (
        session.execute(
            select(
                JobStep.id,
                Job.id,
                Job.start_time,
                Job.stop_time,
                ProductClass.product_type,
                JobStep.state,
                JobStep.attempt,
                JobStep.processing_start_time,
                JobStep.processing_completion_time,
            )
            .join(Job, JobStep.job_id == Job.id)
            .join(
                Product,
                (Product.job_step_id == JobStep.id) & Product.enclosing_product_id.is_(None),
            )
            .join(ProductClass, Product.product_class_id == ProductClass.id)
            .where(JobStep.id.in_(page))
            .order_by(Job.start_time, JobStep.id)
        ).all()
        if page
        else []
    )
    return OrderView(
        **rows[0].model_dump(),
        state_message=order.state_message,
        processing_mode=order.processing_mode,
        file_class=order.file_class,
        priority=order.priority,
        steps_by_state={str(k.value if hasattr(k, "value") else k): v for k, v in by_state.items()},
        job_steps_detail=[
            JobStepRow(
                id=sid,
                job=jid,
                window=_window(start, stop),
                output=ptype,
                state=state.value,
                inputs_satisfied=satisfied_of(sid),
                attempt=attempt,
                duration_s=round((done - began).total_seconds(), 1) if began and done else None,
            )
            for sid, jid, start, stop, ptype, state, attempt, began, done in detail
        ],
    )


def order_products(session: Session, order_id: int) -> list[OrderProductRow]:
    """The output products of the order's job steps (main products and components), with
    their file at any facility and the products they were made from (``TYPE#id``).

    :raises NotFoundError: for an unknown order id.
    """
    if session.get(ProcessingOrder, order_id) is None:
        raise NotFoundError(f"no processing order with id {order_id}")
    steps = select(JobStep.id).join(Job).where(Job.processing_order_id == order_id)
    products = session.scalars(
        select(Product)
        .where(Product.job_step_id.in_(steps))
        .options(selectinload(Product.product_files), selectinload(Product.product_class))
        .order_by(Product.job_step_id, Product.id)
    ).all()
    link = product_query_satisfying_product
    sources: dict[int, list[str]] = {}
    for step_id, product_type, product_id in session.execute(
        select(ProductQuery.job_step_id, ProductClass.product_type, Product.id)
        .join(link, link.c.product_query_id == ProductQuery.id)
        .join(Product, Product.id == link.c.product_id)
        .join(ProductClass, Product.product_class_id == ProductClass.id)
        .where(ProductQuery.job_step_id.in_(steps))
        .distinct()
        .order_by(ProductQuery.job_step_id, ProductClass.product_type, Product.id)
    ):
        sources.setdefault(step_id, []).append(f"{product_type}#{product_id}")
    rows = []
    for product in products:
        file = product.product_files[0] if product.product_files else None
        assert product.job_step_id is not None
        rows.append(
            OrderProductRow(
                id=product.id,
                product_type=product.product_class.product_type,
                job_step=product.job_step_id,
                file_name=file.product_file_name if file else None,
                size_bytes=file.file_size_bytes if file else None,
                md5=file.checksum if file else None,
                made_from=", ".join(sources.get(product.job_step_id, [])),
            )
        )
    return rows


def job_step_view(session: Session, job_step_id: int) -> JobStepView:
    """A job step with its inputs (satisfied or not, by which products), outputs and log.

    :raises NotFoundError: for an unknown id.
    """
    step = session.scalar(
        select(JobStep)
        .where(JobStep.id == job_step_id)
        .options(
            selectinload(JobStep.product_queries).selectinload(ProductQuery.satisfying_products),
            selectinload(JobStep.product_queries).selectinload(
                ProductQuery.requested_product_class
            ),
            selectinload(JobStep.output_products).selectinload(Product.product_class),
            selectinload(JobStep.configured_processor),
        )
    )
    if step is None:
        raise NotFoundError(f"no job step with id {job_step_id}")
    job = step.job

    def name(product: Product) -> str:
        files = [f.product_file_name for f in product.product_files]
        label = files[0] if files else "(in production)"
        return f"{product.id} {product.product_class.product_type} {label}"

    return JobStepView(
        id=step.id,
        order=f"{job.processing_order.id} ({job.processing_order.identifier})",
        job=job.id,
        state=step.state.value,
        window=_window(job.start_time, job.stop_time),
        configured_processor=step.configured_processor.identifier
        if step.configured_processor
        else None,
        attempt=step.attempt,
        transient_failures=step.transient_failures,
        held_until=step.not_before if step.held_back(utc_now()) else None,
        inputs=[
            QueryView(
                product_type=q.requested_product_class.product_type,
                rule=q.rule_text,
                mandatory=q.is_mandatory,
                satisfied=q.is_satisfied,
                products=[name(p) for p in sorted(q.satisfying_products, key=lambda p: p.id)],
            )
            for q in sorted(step.product_queries, key=lambda q: q.id)
        ],
        outputs=[name(p) for p in sorted(step.output_products, key=lambda p: p.id)],
        exit_code=step.exit_code,
        processing_start=step.processing_start_time,
        processing_completion=step.processing_completion_time,
        log="\n".join(part for part in (step.processing_stdout, step.processing_stderr) if part)
        or None,
    )


class JobRow(BaseModel):
    """A job of an order: its window, state and job steps by state."""

    id: int
    window: str
    orbit: int | None
    facility: str | None
    state: str
    has_failed_job_steps: bool
    steps_by_state: dict[str, int]


def order_jobs(
    session: Session, order_id: int, *, limit: int | None = None, offset: int = 0
) -> list[JobRow]:
    """The jobs of an order in window order (``limit`` of them from ``offset``, or all), with
    their job steps counted by state.

    :raises NotFoundError: for an unknown order id.
    """
    if session.get(ProcessingOrder, order_id) is None:
        raise NotFoundError(f"no processing order with id {order_id}")
    jobs = session.scalars(
        select(Job)
        .where(Job.processing_order_id == order_id)
        .options(selectinload(Job.orbit), selectinload(Job.processing_facility))
        .order_by(Job.start_time, Job.id)
        .offset(offset)
        .limit(limit)
    ).all()
    counts: dict[int, dict[str, int]] = {}
    for job_id, state, count in session.execute(
        select(JobStep.job_id, JobStep.state, func.count(JobStep.id))
        .where(
            JobStep.job_id.in_(
                select(Job.id).where(Job.processing_order_id == order_id)
                if limit is None
                else [job.id for job in jobs]
            )
        )
        .group_by(JobStep.job_id, JobStep.state)
    ):
        counts.setdefault(job_id, {})[state.value] = count
    return [
        JobRow(
            id=job.id,
            window=_window(job.start_time, job.stop_time),
            orbit=job.orbit.orbit_number if job.orbit else None,
            facility=job.processing_facility.name if job.processing_facility else None,
            state=job.state.value,
            has_failed_job_steps=job.has_failed_job_steps,
            steps_by_state=counts.get(job.id, {}),
        )
        for job in jobs
    ]


class GraphNode(BaseModel):
    """One product class of an order's plan: its job steps by state, the classes its job
    steps read (``inputs``; those made by the plan and those taken from the catalogue) and
    its depth (0 for classes read from the catalogue only; each class one more than the
    deepest class of the plan it reads)."""

    product_type: str
    level: int
    produced: bool
    steps_by_state: dict[str, int]
    inputs: list[str]


def plan_graph(session: Session, order_id: int) -> list[GraphNode]:
    """The plan of an order as a graph of product classes (L3 <- L2 <- L1 <- L0 + AUX), from
    two grouped reads whatever the order's size; ordered by level, then product type."""
    steps = select(JobStep.id).join(Job).where(Job.processing_order_id == order_id)
    made = ProductClass.product_type
    counts: dict[str, dict[str, int]] = {}
    for product_type, state, count in session.execute(
        select(made, JobStep.state, func.count(JobStep.id))
        .join(Product, Product.product_class_id == ProductClass.id)
        .join(JobStep, Product.job_step_id == JobStep.id)
        .where(JobStep.id.in_(steps), Product.enclosing_product_id.is_(None))
        .group_by(made, JobStep.state)
    ):
        counts.setdefault(product_type, {})[state.value] = count
    read = ProductClass.__table__.alias("read_class")
    edges: dict[str, set[str]] = {}
    for product_type, source in session.execute(
        select(made, read.c.product_type)
        .join(Product, Product.product_class_id == ProductClass.id)
        .join(ProductQuery, ProductQuery.job_step_id == Product.job_step_id)
        .join(read, read.c.id == ProductQuery.requested_product_class_id)
        .where(Product.job_step_id.in_(steps), Product.enclosing_product_id.is_(None))
        .distinct()
    ):
        edges.setdefault(product_type, set()).add(source)
    levels: dict[str, int] = {}

    def level(product_type: str, seen: frozenset[str]) -> int:
        if product_type in levels:
            return levels[product_type]
        if product_type not in counts or product_type in seen:
            return 0
        inputs = edges.get(product_type, set())
        depth = 1 + max((level(i, seen | {product_type}) for i in inputs), default=0)
        levels[product_type] = depth
        return depth

    types = set(counts) | {source for sources in edges.values() for source in sources}
    nodes = [
        GraphNode(
            product_type=t,
            level=level(t, frozenset()),
            produced=t in counts,
            steps_by_state=counts.get(t, {}),
            inputs=sorted(edges.get(t, set())),
        )
        for t in types
    ]
    return sorted(nodes, key=lambda n: (n.level, n.product_type))
