"""The readiness re-check after an arrival looks only at the job windows the arrived products
can reach (planner.readiness), on both databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from planner.readiness import Arrival, longest_job_window, reaches, recheck_waiting_job_steps
from proseo.db import Database
from proseo.enums import JobStepState, PolicyType
from proseo.model import JobStep, ProductClass
from proseo.model.productclass import SimplePolicy, SimpleSelectionRule
from tests.conftest import TST_ORBIT, TST_T0, add_product_with_file, released_waiting_l1b_order


def _classes(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return dict(session.execute(select(ProductClass.product_type, ProductClass.id)).all())


def _states(database: Database) -> list[JobStepState]:
    with database.transaction() as session:
        return list(session.scalars(select(JobStep.state)))


def test_an_arrival_wakes_only_the_job_steps_it_can_reach(tst: Database) -> None:
    """Orbit 3 misses one L0 granule, so its L1B job step waits. The granule is then stored
    without a re-check (as if its ingestion event were lost). A re-check after a granule of
    orbit 50 does not read orbit 3's query and wakes nothing; one after the missing granule
    itself wakes the step; the class-wide sweep would have woken it too."""
    released_waiting_l1b_order(tst, "WAIT-3")
    orbit3 = TST_T0 + 2 * TST_ORBIT
    granule = TST_ORBIT / 5
    with tst.transaction() as session:
        missing = add_product_with_file(
            session, "L0________", orbit3 + 4 * granule, orbit3 + TST_ORBIT
        )
        far = add_product_with_file(
            session, "L0________", TST_T0 + 49 * TST_ORBIT, TST_T0 + 49 * TST_ORBIT + granule
        )
        session.flush()
        arrived_far = Arrival(far.product_class_id, far.sensing_start, far.sensing_stop)
        arrived = Arrival(missing.product_class_id, missing.sensing_start, missing.sensing_stop)
    with tst.transaction() as session:
        assert recheck_waiting_job_steps(session, arrivals=[arrived_far]) == 0
        assert recheck_waiting_job_steps(session, arrivals=[]) == 0
    assert _states(tst) == [JobStepState.WAITING_INPUT]
    with tst.transaction() as session:
        nested = session.begin_nested()
        assert recheck_waiting_job_steps(session, None) == 1  # the sweep
        nested.rollback()
        assert recheck_waiting_job_steps(session, arrivals=[arrived_far, arrived]) == 1
    assert _states(tst) == [JobStepState.READY]


def test_the_reach_follows_the_configured_rules(tst: Database) -> None:
    """TST's L1B reads AUX_ORB___ with LatestValCover(1d, 1d) OR LatestValIntersect(1d, 1d)
    and L0 with ValIntersect(0, 0): reaches of one day and of nothing. A policy that looks
    beyond the window (LatestValidity) makes the re-check read every query of the class; a
    class nothing reads is left out."""
    classes = _classes(tst)
    released_waiting_l1b_order(tst, "WAIT-3")
    with tst.transaction() as session:
        day, zero = timedelta(days=1), timedelta(0)
        assert reaches(
            session, [classes[t] for t in ("AUX_ORB___", "L0________", "L3________")]
        ) == {
            classes["AUX_ORB___"]: (day, day),
            classes["L0________"]: (zero, zero),
        }
        assert longest_job_window(session) == TST_ORBIT
        policy = session.scalars(
            select(SimplePolicy)
            .join(SimpleSelectionRule, SimplePolicy.simple_rule_id == SimpleSelectionRule.id)
            .where(SimpleSelectionRule.source_class_id == classes["AUX_ORB___"])
        ).first()
        assert policy is not None
        policy.policy_type = PolicyType.LATEST_VALIDITY
        session.flush()
        assert reaches(session, [classes["AUX_ORB___"]]) == {classes["AUX_ORB___"]: None}
