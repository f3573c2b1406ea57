"""Runs on execution nodes: Job Order Files, stage-in, processor run, stage-out (issue 6).

Must not import SQLAlchemy or FastAPI.
"""
