"""Executor plug-ins (entry-point group ``proseo.executors``): they run wrapper invocations
on a backend and never touch the database."""

from productionplanner.executors.base import Executor, ExecutorStatus, RunSpec, Submission

__all__ = ["Executor", "ExecutorStatus", "RunSpec", "Submission"]
