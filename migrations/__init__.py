"""Alembic migration environment of the metadata database (one tree for SQLite and PostgreSQL).

Run through ``proseo db upgrade`` / ``proseo db current`` (see :mod:`proseo.db.migrate`).
"""
