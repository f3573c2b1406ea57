"""The dispatcher: READY job steps to executors, results back into the catalogue.

One :meth:`Dispatcher.tick` does, for every RUNNING processing facility:

1. **collect** - the job steps RUNNING at the facility: a run whose result manifest exists is
   finished; the others are polled through the facility's executor in one call (runs this
   process does not know, after a restart, are adopted by run key first). A finished run is
   ingested from its manifest in its own transaction, under a row lock and only if the job
   step is still RUNNING with that attempt, so a manifest processed twice creates nothing
   twice. A run that ended without a manifest failed; a run the executor never heard of (the
   dispatcher died between its commit and the submission) is submitted again under the same
   run key, and the wrapper's run-once guard makes sure it cannot run twice.
2. **input timeouts** - WAITING_INPUT steps of orders with an input-data timeout that waited
   longer: released with the inputs there are, or failed, as the order says.
3. **dispatch** - lock the facility row, take up to its free capacity of READY steps by
   priority (then age) across all RELEASED/RUNNING orders (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL, so dispatchers can run side by side), count the attempt, set them RUNNING,
   write their descriptions under ``<data dir>/runs/<run key>/``, commit, then submit.

Completion wakes the job steps waiting for the produced product classes at once, and job and
order states roll up (:mod:`productionplanner.rollup`). A failed step is retried while its
attempt count is at most the order's ``max_retries``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from planner.readiness import Arrival, recheck_waiting_job_steps
from productionplanner.descriptions import build_descriptions
from productionplanner.executors.base import Executor, ExecutorStatus, RunSpec, Submission
from productionplanner.lifecycle import (
    complete_job_step,
    fail_job_step,
    requeue_job_step,
    supersede_older,
    time_out_inputs,
)
from productionplanner.rollup import roll_up
from proseo import metrics
from proseo.backoff import Backoff
from proseo.config import Settings
from proseo.contract import ContractError, JobStepDescription, RunManifest
from proseo.db import Database
from proseo.db.wakeup import PRODUCTS, READY, BackgroundWorker, Waiter, announce
from proseo.enums import (
    FacilityState,
    JobStepState,
    OrderState,
    StatefulEntity,
)
from proseo.errors import (
    DatabaseBusyError,
    DatabaseUnavailableError,
    ProseoError,
    StorageUnavailableError,
)
from proseo.model import (
    Job,
    JobStep,
    ProcessingFacility,
    ProcessingOrder,
    Product,
    ProductFile,
    StateHistory,
)
from proseo.model.base import utc_now
from proseo.model.states import bulk_transition
from proseo.plugins import load_executor_class
from proseo.secrets import SecretBox, open_settings
from proseo.storage.factory import (
    facility_storage,
    facility_storage_settings,
    split_credentials,
)

log = logging.getLogger(__name__)

DISPATCHABLE_ORDERS = (OrderState.RELEASED, OrderState.RUNNING)
LOG_LIMIT = 20_000  # characters of stdout/stderr kept per job step


COUNTERS = (
    "submitted",
    "resubmitted",
    "completed",
    "failed",
    "retried",
    "requeued",
    "woken",
    "timed_out",
    "cancelled",
)


@dataclass
class TickReport:
    """What one dispatcher tick did, and afterwards the job steps by state of the orders in
    flight (RELEASED, RUNNING, SUSPENDING)."""

    submitted: int = 0
    resubmitted: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    requeued: int = 0
    woken: int = 0
    timed_out: int = 0
    cancelled: int = 0
    states: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def running(self) -> int:
        """Job steps RUNNING after the tick."""
        return self.states.get(JobStepState.RUNNING.value, 0)

    @property
    def ready(self) -> int:
        """Job steps READY after the tick."""
        return self.states.get(JobStepState.READY.value, 0)

    @property
    def waiting(self) -> int:
        """Job steps WAITING_INPUT after the tick."""
        return self.states.get(JobStepState.WAITING_INPUT.value, 0)

    @property
    def changed(self) -> bool:
        """Whether the tick did anything."""
        return any(getattr(self, key) for key in COUNTERS if key != "woken")

    @property
    def idle(self) -> bool:
        """Nothing runs and nothing is ready (steps may still wait for input)."""
        return self.running == 0 and self.ready == 0

    def add(self, other: TickReport) -> None:
        """Add ``other``'s counts to this report and take its job step states."""
        for key in COUNTERS:
            setattr(self, key, getattr(self, key) + getattr(other, key))
        self.states = dict(other.states)
        self.errors.extend(other.errors)

    def line(self) -> str:
        """One status line for operators."""
        return (
            f"submitted {self.submitted}, completed {self.completed}, failed {self.failed}, "
            f"retried {self.retried}, "
            + (f"requeued {self.requeued}, " if self.requeued else "")
            + f"woken {self.woken}; now running {self.running}, "
            f"ready {self.ready}, waiting for input {self.waiting}"
        )


def make_executor(
    facility: ProcessingFacility,
    state_dir: Path,
    max_local: int | None = None,
    box: SecretBox | None = None,
) -> Executor:
    """The executor plug-in ``facility.executor_kind`` configured from the facility's
    ``executor_settings``, with its capacity ``max_job_steps`` (for the local executor at
    most ``max_local``) and a state folder of its own; secret settings are opened with
    ``box`` (see :mod:`proseo.secrets`).

    :raises NotFoundError: when no executor plug-in of that kind is installed.
    :raises ConfigurationError: when it fails to load.
    """
    cls = load_executor_class(facility.executor_kind)
    capacity = facility.max_job_steps
    if facility.executor_kind == "local" and max_local is not None:
        capacity = min(capacity, max_local)
    executor: Executor = cls.from_settings(
        open_settings(dict(facility.executor_settings or {}), box),
        state_dir=state_dir / f"executor-{facility.name}",
        capacity=capacity,
    )
    return executor


class Dispatcher:
    """Dispatches READY job steps and collects finished ones (see the module docstring).

    :param executors: executors by facility name (tests; default: from each facility's
        settings through the ``proseo.executors`` entry points).
    """

    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        executors: Mapping[str, Executor] | None = None,
        name: str = "dispatcher",
    ) -> None:
        self.database = database
        self.settings = settings
        self.name = name
        self.runs_dir = (settings.data_dir / "runs").resolve()
        self._given = dict(executors or {})
        self._executors: dict[int, Executor] = {}
        self._executor_config: dict[int, tuple[str, str, int]] = {}
        self._submissions: dict[str, Submission] = {}
        self._facility_of: dict[str, int] = {}  # run key -> facility id
        # failed runs whose outputs could not be deleted yet (the storage is unreachable)
        self._cleanup_retries: dict[str, Backoff] = {}

    # -- paths -----------------------------------------------------------------------------

    def run_dir(self, run_key: str) -> Path:
        """Folder of one run: ``description.json`` and ``manifest.json``."""
        return self.runs_dir / run_key

    def _spec(
        self, run_key: str, description: JobStepDescription, environment: dict[str, str]
    ) -> RunSpec:
        processor = description.processor
        return RunSpec(
            run_key,
            self.run_dir(run_key) / "description.json",
            self.run_dir(run_key) / "manifest.json",
            cpus=processor.cpus,
            memory_bytes=processor.memory_bytes,
            time_limit_s=processor.max_time_s,
            image=processor.docker_image,
            environment=environment,
        )

    def _executor(self, facility: ProcessingFacility) -> Executor:
        """The facility's executor, built again when its kind, settings or capacity change
        (so ``proseo facility set`` takes effect in the next round)."""
        given = self._given.get(facility.name)
        if given is not None:
            return given
        config = (
            facility.executor_kind,
            json.dumps(facility.executor_settings or {}, sort_keys=True, default=str),
            facility.max_job_steps,
        )
        cached = self._executors.get(facility.id)
        if cached is None or self._executor_config.get(facility.id) != config:
            cached = make_executor(
                facility,
                self.settings.data_dir.resolve(),
                self.settings.executor.max_parallel,
                SecretBox.from_settings(self.settings),
            )
            self._executors[facility.id] = cached
            self._executor_config[facility.id] = config
        return cached

    def _track(self, facility: ProcessingFacility, submission: Submission) -> None:
        self._submissions[submission.run_key] = submission
        self._facility_of[submission.run_key] = facility.id

    def _guarded(
        self,
        what: str,
        action: Callable[[ProcessingFacility, TickReport], None],
        facility: ProcessingFacility,
        report: TickReport,
    ) -> None:
        """Run one facility's part of the round; an executor or storage failure there (Slurm
        down, API server refusing) is reported and logged, and the other facilities and the
        next round go on. Steps already set RUNNING are submitted again by a later collect."""
        try:
            action(facility, report)
        except ProseoError as error:
            message = f"{what}: {error.message}"
            log.error("dispatcher: %s", message)
            report.errors.append(message)

    # -- the loop --------------------------------------------------------------------------

    def tick(self) -> TickReport:
        """One round: collect, input timeouts, dispatch. Each step commits on its own."""
        report = TickReport()
        with self.database.transaction() as session:
            facilities = session.scalars(
                select(ProcessingFacility)
                .where(ProcessingFacility.state == FacilityState.RUNNING)
                .order_by(ProcessingFacility.id)
            ).all()
            session.expunge_all()
        for facility in facilities:
            self._guarded(f"collecting at {facility.name}", self._collect, facility, report)
        self._input_timeouts(report)
        for facility in facilities:
            self._guarded(f"dispatching to {facility.name}", self._dispatch, facility, report)
        with self.database.transaction() as session:
            # the work in flight: job steps of orders that are released, running or suspending
            # (READY steps left in a FAILED order wait for the operator, not the dispatcher)
            report.states = {
                state.value: count
                for state, count in session.execute(
                    select(JobStep.state, func.count())
                    .join(Job, JobStep.job_id == Job.id)
                    .join(ProcessingOrder, Job.processing_order_id == ProcessingOrder.id)
                    .where(ProcessingOrder.state.in_([*DISPATCHABLE_ORDERS, OrderState.SUSPENDING]))
                    .group_by(JobStep.state)
                )
            }
        return report

    def run(
        self,
        *,
        once: bool = False,
        interval_s: float = 2.0,
        until_idle: bool = False,
        timeout_s: float | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> TickReport:
        """Tick until stopped: once, until nothing runs or is ready (``until_idle``), until
        ``timeout_s`` seconds passed, or until ``should_stop()`` says so.

        A round that finds the database locked by another writer (a second dispatcher on the
        same SQLite file) is void and the next one tries again: what it did was rolled back.
        A round that cannot reach the database (a restart, a network cut) is void too; the
        next tries come after 1, 2, 4 ... up to 60 s, each logged, until it is back.
        Between rounds that changed nothing it waits ``interval_s`` seconds, or less: job steps
        becoming READY anywhere wake it at once (:mod:`proseo.db.wakeup`).

        :returns: the counts summed over all ticks, with the job step states after the last.
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        total = TickReport()
        waiter = None if once else Waiter(self.database.engine, (READY,))
        try:
            return self._loop(
                once, interval_s, until_idle, deadline, total, on_tick, should_stop, waiter
            )
        finally:
            if waiter is not None:
                waiter.close()

    def _loop(
        self,
        once: bool,
        interval_s: float,
        until_idle: bool,
        deadline: float | None,
        total: TickReport,
        on_tick: Callable[[TickReport], None] | None,
        should_stop: Callable[[], bool] | None,
        waiter: Waiter | None,
    ) -> TickReport:
        backoff = Backoff(first_s=max(interval_s, 0.5), max_s=60.0)
        while True:
            try:
                report = self.tick()
            except DatabaseBusyError as error:
                # another writer (SQLite), or the database out of reach: this round is void
                # (rolled back); try again, backing off while it stays out of reach
                outage = isinstance(error, DatabaseUnavailableError)
                pause = backoff.failed() if outage else interval_s
                log.warning(
                    "dispatcher: %s%s",
                    error.message,
                    f" (next try in {pause:.1f} s)" if outage else "",
                )
                if not total.errors or total.errors[-1] != error.message:
                    total.errors.append(error.message)
                if deadline is not None and time.monotonic() >= deadline:
                    return total
                if should_stop is not None and should_stop():
                    return total
                time.sleep(pause)
                continue
            backoff.passed()
            total.add(report)
            if on_tick is not None:
                on_tick(report)
            if once or (until_idle and report.idle):
                return total
            if deadline is not None and time.monotonic() >= deadline:
                return total
            if should_stop is not None and should_stop():
                return total
            if not report.changed and waiter is not None:
                # until job steps become READY (a commit anywhere: ingestion, release, a
                # retry) or the interval passed (running steps are polled then)
                waiter.wait(interval_s)

    # -- 1. collect ------------------------------------------------------------------------

    def _collect(self, facility: ProcessingFacility, report: TickReport) -> None:
        with self.database.transaction() as session:
            running = session.execute(
                select(JobStep.id, JobStep.attempt)
                .join(Job, JobStep.job_id == Job.id)
                .where(
                    Job.processing_facility_id == facility.id,
                    JobStep.state == JobStepState.RUNNING,
                )
            ).all()
        steps = {f"proseo-{sid}-{attempt}": (sid, attempt) for sid, attempt in running}
        # runs whose job step was taken back meanwhile (suspend --force, reset): stop them
        orphans = [
            submission
            for key, submission in self._submissions.items()
            if self._facility_of.get(key) == facility.id and key not in steps
        ]
        if orphans:
            self._executor(facility).cancel(orphans)
            for submission in orphans:
                self._submissions.pop(submission.run_key, None)
                log.info("cancelled %s: its job step no longer runs", submission.run_key)
            report.cancelled += len(orphans)
        if not running:
            return
        manifests = {key: self.run_dir(key) / "manifest.json" for key in steps}
        finished = [key for key in steps if manifests[key].exists()]
        pending = [key for key in steps if key not in finished]
        executor = self._executor(facility)
        unknown = [key for key in pending if key not in self._submissions]
        for submission in executor.adopt(unknown) if unknown else []:
            self._track(facility, submission)
        known = [self._submissions[key] for key in pending if key in self._submissions]
        statuses = executor.poll(known) if known else {}
        crashed: list[str] = []
        lost = [key for key in pending if key not in self._submissions]
        for key, status in statuses.items():
            if status is ExecutorStatus.ENDED:
                if manifests[key].exists():
                    finished.append(key)
                else:
                    crashed.append(key)
            elif status is ExecutorStatus.UNKNOWN:
                lost.append(key)
        for key in finished:
            self._submissions.pop(key, None)
            try:
                manifest = RunManifest.from_dict(
                    json.loads(manifests[key].read_text(encoding="utf-8"))
                )
            except (OSError, ValueError, ContractError) as error:
                self._finish(
                    facility, *steps[key], None, f"unreadable result manifest: {error}", report
                )
                continue
            self._finish(facility, *steps[key], manifest, None, report)
        for key in crashed:
            recorded = self._finish(
                facility,
                *steps[key],
                None,
                "the run ended without a result manifest (killed, or the wrapper crashed)",
                report,
            )
            if recorded:  # else polled again next round (its outputs could not be cleaned up)
                self._submissions.pop(key, None)
        if lost:
            specs = []
            _, credentials = split_credentials(facility_storage_settings(facility, self.settings))
            for key in lost:
                self._submissions.pop(key, None)
                try:
                    description = JobStepDescription.from_dict(
                        json.loads(
                            (self.run_dir(key) / "description.json").read_text(encoding="utf-8")
                        )
                    )
                except (OSError, ValueError, ContractError) as error:
                    self._finish(
                        facility, *steps[key], None, f"job step description lost: {error}", report
                    )
                    continue
                specs.append(self._spec(key, description, credentials))
            for submission in executor.submit(specs):
                self._track(facility, submission)
                report.resubmitted += 1
                log.info("re-submitted %s (its executor did not know it)", submission.run_key)

    def _finish(
        self,
        facility: ProcessingFacility,
        step_id: int,
        attempt: int,
        manifest: RunManifest | None,
        failure: str | None,
        report: TickReport,
    ) -> bool:
        """Ingest one finished run (idempotent: nothing happens unless the step is still
        RUNNING with this attempt); counted in the metrics once committed.

        A run that failed because the storage could not be reached (its manifest says
        ``transient``) is requeued without counting the attempt, held back by the back-off,
        up to ``executor.transient_requeues`` times a job step; after that it fails as any
        run does.

        :returns: ``False`` when the run is left for a later round: it failed, and the outputs
            it may have stored cannot be deleted now (the storage is unreachable); the step
            stays RUNNING so no new attempt races the clean-up.
        """
        outcome = JobStepState.FAILED.value
        if (manifest is None or not manifest.status.succeeded) and not self._cleaned_up(
            facility, f"proseo-{step_id}-{attempt}", manifest.finished if manifest else None
        ):
            return False
        executor_settings = self.settings.executor
        with self.database.transaction() as session:
            step = session.scalar(select(JobStep).where(JobStep.id == step_id).with_for_update())
            if step is None or step.state is not JobStepState.RUNNING or step.attempt != attempt:
                return True
            job = session.get_one(Job, step.job_id)
            if manifest is not None:
                step.exit_code = manifest.exit_code
                step.processing_stdout = manifest.stdout_tail[-LOG_LIMIT:] or None
                step.processing_stderr = manifest.stderr_tail[-LOG_LIMIT:] or None
                step.processing_start_time = manifest.started
                step.processing_completion_time = manifest.finished
                failure = (
                    None
                    if manifest.status.succeeded
                    else (manifest.reason or f"wrapper status {manifest.status.value}")
                )
            else:
                step.processing_completion_time = utc_now()
            if failure is None and manifest is not None:
                outcome = JobStepState.COMPLETED.value
                arrivals = self._ingest_outputs(session, step, facility, manifest)
                complete_job_step(
                    session, step, changed_by=self.name, reason=manifest.reason or "completed"
                )
                report.completed += 1
                session.flush()
                report.woken += recheck_waiting_job_steps(
                    session, changed_by=self.name, arrivals=arrivals
                )
            elif (
                manifest is not None
                and manifest.transient
                and step.transient_failures < executor_settings.transient_requeues
            ):
                hold = min(
                    executor_settings.requeue_backoff_s * 2**step.transient_failures,
                    executor_settings.requeue_backoff_max_s,
                )
                requeue_job_step(
                    session, step, failure or "transient failure", hold_s=hold,
                    changed_by=self.name,
                )  # fmt: skip
                report.requeued += 1
                outcome = "REQUEUED"
            else:
                self._fail(session, step, job, failure or "failed", report)
            roll_up(session, [job.processing_order_id], changed_by=self.name)
        metrics.JOB_STEPS_FINISHED.labels(facility.name, outcome).inc()
        if manifest is not None and manifest.started and manifest.finished:
            seconds = (manifest.finished - manifest.started).total_seconds()
            metrics.JOB_STEP_DURATION.labels(facility.name).observe(max(0.0, seconds))
        return True

    def _cleaned_up(
        self, facility: ProcessingFacility, run_key: str, run_ended: datetime | None
    ) -> bool:
        """Whether the failure of the run may be recorded: its outputs are deleted (so no
        new attempt races the clean-up), or the storage stayed unreachable for
        ``executor.cleanup_patience_s`` since the run ended (``run_ended``, UTC, from its
        manifest, so a restarted dispatcher keeps the clock; without a manifest, since this
        dispatcher's first try) — then what it stored is left to ``proseo facility check``,
        and logged. While the storage is unreachable the clean-up is tried again after 2, 4,
        8 ... up to 60 s, not every round."""
        backoff = self._cleanup_retries.setdefault(run_key, Backoff(first_s=2.0, max_s=60.0))
        if not backoff.due():
            return False
        problem = self._remove_outputs_of_failed_run(facility, run_key)
        if problem is None:
            del self._cleanup_retries[run_key]
            return True
        waited = max(
            backoff.failing_for(),
            (utc_now() - run_ended).total_seconds() if run_ended is not None else 0.0,
        )
        if waited >= self.settings.executor.cleanup_patience_s:
            del self._cleanup_retries[run_key]
            log.error("outputs of the failed run %s not cleaned up: %s; recording the failure "
                      "anyway (proseo facility check lists what is left)", run_key,
                      problem)  # fmt: skip
            return True
        delay = backoff.failed()
        log.warning("outputs of the failed run %s not cleaned up yet: %s (next try in %.0f s)",
                    run_key, problem, delay)  # fmt: skip
        return False

    def _remove_outputs_of_failed_run(
        self, facility: ProcessingFacility, run_key: str
    ) -> str | None:
        """Delete what a failed run may have stored of its outputs (a wrapper killed during
        its stage-out, a stage-out that failed half-way): the keys of its description, none
        catalogued (a failed run's outputs never are; the next attempt names its outputs
        anew). Other failures are logged: ``proseo facility check`` finds what is left.

        :returns: why the storage could not be reached (try again later), or ``None``."""
        try:
            description = JobStepDescription.from_dict(
                json.loads((self.run_dir(run_key) / "description.json").read_text("utf-8"))
            )
            storage = facility_storage(facility, self.settings)
        except (OSError, ValueError, ContractError, ProseoError) as error:
            log.warning("outputs of the failed run %s not cleaned up: %s", run_key, error)
            return None
        for output in description.outputs:
            try:
                storage.delete(output.key)
            except StorageUnavailableError as error:
                return error.message
            except ProseoError as error:
                log.warning("output %s of the failed run %s not deleted: %s", output.key,
                            run_key, error)  # fmt: skip
        return None

    def _ingest_outputs(
        self,
        session: Session,
        step: JobStep,
        facility: ProcessingFacility,
        manifest: RunManifest,
    ) -> list[Arrival]:
        """ProductFile rows for the outputs of the manifest (the main outputs supersede older
        ones and get the order's retention); returns the products that got a file."""
        retention = session.scalar(
            select(ProcessingOrder.product_retention_s)
            .join(Job, Job.processing_order_id == ProcessingOrder.id)
            .where(Job.id == step.job_id)
        )
        products = {
            p.id: p for p in session.scalars(select(Product).where(Product.job_step_id == step.id))
        }
        existing = set(
            session.scalars(
                select(ProductFile.product_id).where(
                    ProductFile.product_id.in_(list(products) or [-1]),
                    ProductFile.processing_facility_id == facility.id,
                )
            )
        )
        arrivals: list[Arrival] = []
        for output in manifest.outputs:
            product = products.get(output.product_id if output.product_id is not None else -1)
            if product is None or product.id in existing:
                continue
            arrivals.append(
                Arrival(
                    product.product_class_id,
                    product.sensing_start,
                    product.sensing_stop,
                    arrived_at=manifest.finished,
                )
            )
            folder, _, name = output.key.rpartition("/")
            session.add(
                ProductFile(
                    product_id=product.id,
                    processing_facility_id=facility.id,
                    product_file_name=name,
                    file_path=folder,
                    storage_type=facility.storage_type,
                    file_size_bytes=output.size_bytes,
                    checksum=output.md5,
                    checksum_time=utc_now(),
                )
            )
            existing.add(product.id)
            announce(session, PRODUCTS)
            if product.enclosing_product_id is None:
                supersede_older(session, product)
                if retention is not None:
                    product.eviction_time = utc_now() + timedelta(seconds=retention)
        return arrivals

    def _fail(
        self, session: Session, step: JobStep, job: Job, reason: str, report: TickReport
    ) -> None:
        order = session.get_one(ProcessingOrder, job.processing_order_id)
        report.failed += 1
        if fail_job_step(session, step, order, reason, changed_by=self.name):
            report.retried += 1

    # -- 2. input timeouts -----------------------------------------------------------------

    def _input_timeouts(self, report: TickReport) -> None:
        with self.database.transaction() as session:
            rows = session.execute(
                select(
                    JobStep.id,
                    ProcessingOrder.id,
                    ProcessingOrder.input_data_timeout_s,
                    ProcessingOrder.release_on_input_timeout,
                    func.max(StateHistory.changed_at),
                )
                .join(Job, JobStep.job_id == Job.id)
                .join(ProcessingOrder, Job.processing_order_id == ProcessingOrder.id)
                .join(
                    StateHistory,
                    (StateHistory.entity_type == StatefulEntity.JOB_STEP)
                    & (StateHistory.entity_id == JobStep.id)
                    & (StateHistory.to_state == JobStepState.WAITING_INPUT.value),
                )
                .where(
                    JobStep.state == JobStepState.WAITING_INPUT,
                    ProcessingOrder.input_data_timeout_s.is_not(None),
                    ProcessingOrder.state.in_(DISPATCHABLE_ORDERS),
                )
                .group_by(
                    JobStep.id,
                    ProcessingOrder.id,
                    ProcessingOrder.input_data_timeout_s,
                    ProcessingOrder.release_on_input_timeout,
                )
            ).all()
            now = utc_now()
            release: list[int] = []
            fail: list[int] = []
            orders: set[int] = set()
            for step_id, order_id, timeout_s, release_on_timeout, since in rows:
                if since is None or now - since < timedelta(seconds=timeout_s or 0):
                    continue
                (release if release_on_timeout else fail).append(step_id)
                orders.add(order_id)
            if not orders:
                return
            time_out_inputs(session, release, fail, changed_by=self.name)
            report.timed_out += len(release) + len(fail)
            report.failed += len(fail)
            roll_up(session, orders, changed_by=self.name)

    # -- 3. dispatch -----------------------------------------------------------------------

    def _dispatch(self, facility: ProcessingFacility, report: TickReport) -> None:
        with self.database.transaction() as session:
            locked = session.scalar(
                select(ProcessingFacility)
                .where(ProcessingFacility.id == facility.id)
                .with_for_update()
            )
            if locked is None or locked.state is not FacilityState.RUNNING:
                return
            at_facility = Job.processing_facility_id == facility.id
            running = (
                session.scalar(
                    select(func.count(JobStep.id))
                    .join(Job, JobStep.job_id == Job.id)
                    .where(at_facility, JobStep.state == JobStepState.RUNNING)
                )
                or 0
            )
            limit = locked.max_job_steps
            executor_capacity = getattr(self._executor(locked), "capacity", None)
            if executor_capacity is not None:  # e.g. this machine's local process cap
                limit = min(limit, int(executor_capacity))
            free = limit - running
            if free <= 0:
                return
            ids = list(
                session.scalars(
                    select(JobStep.id)
                    .join(Job, JobStep.job_id == Job.id)
                    .join(ProcessingOrder, Job.processing_order_id == ProcessingOrder.id)
                    .where(
                        at_facility,
                        JobStep.state == JobStepState.READY,
                        ProcessingOrder.state.in_(DISPATCHABLE_ORDERS),
                        or_(
                            ProcessingOrder.execution_time.is_(None),
                            ProcessingOrder.execution_time <= utc_now(),
                        ),
                        # requeued after a storage outage: held back for the back-off
                        ~JobStep.held_back_condition(utc_now()),
                    )
                    .order_by(JobStep.priority.desc(), JobStep.id)
                    .limit(free)
                    .with_for_update(skip_locked=True, of=JobStep)
                )
            )
            if not ids:
                return
            now = utc_now()
            session.execute(
                update(JobStep)
                .where(JobStep.id.in_(ids))
                .values(
                    attempt=JobStep.attempt + 1,
                    not_before=None,
                    processing_start_time=now,
                    processing_completion_time=None,
                    exit_code=None,
                )
                .execution_options(synchronize_session=False)
            )
            bulk_transition(
                session,
                JobStep,
                JobStep.id.in_(ids),
                [JobStepState.READY],
                JobStepState.RUNNING,
                changed_by=self.name,
                reason=f"dispatched to {locked.name}",
            )
            storage, credentials = split_credentials(
                facility_storage_settings(locked, self.settings)
            )
            descriptions = build_descriptions(
                session, ids, locked, storage, now, self.settings.executor.storage_patience_s
            )
            specs = []
            for description in descriptions.values():
                folder = self.run_dir(description.run_key)
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
                folder.chmod(0o700)
                path = folder / "description.json"
                partial = folder / "description.json.part"
                with os.fdopen(
                    os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w"
                ) as out:
                    out.write(json.dumps(description.to_dict()))  # the C encoder
                partial.replace(path)
                specs.append(self._spec(description.run_key, description, credentials))
            started = session.execute(
                select(Job.id, Job.processing_order_id)
                .join(JobStep, JobStep.job_id == Job.id)
                .where(JobStep.id.in_(ids))
                .distinct()
            ).all()
            roll_up(
                session,
                {order for _, order in started},
                changed_by=self.name,
                job_ids=[job for job, _ in started],
            )
        # Committed: the steps are RUNNING with their run keys. Runs the executor does not
        # take now (its own capacity) are submitted again by the next collect.
        for submission in self._executor(facility).submit(specs):
            self._track(facility, submission)
            report.submitted += 1
            metrics.JOB_STEPS_DISPATCHED.labels(facility.name).inc()


def _log_round(report: TickReport) -> None:
    if report.changed:
        log.info("dispatcher: %s", report.line())


def start_dispatcher(database: Database, settings: Settings, interval_s: float) -> Any:
    """Run the dispatcher in a background thread of this process (``proseo serve
    --dispatch-interval``): rounds every ``interval_s`` seconds, at once after a round that
    changed something, and when job steps become READY anywhere.

    :returns: the running :class:`~proseo.db.wakeup.BackgroundWorker` (``shutdown()`` stops
        it).
    """
    dispatcher = Dispatcher(database, settings, name="server dispatcher")

    def round_() -> float:
        report = dispatcher.tick()
        _log_round(report)
        return 0.0 if report.changed else interval_s

    return BackgroundWorker("dispatcher", round_, database.engine, (READY,), interval_s).start()
