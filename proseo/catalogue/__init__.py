"""Catalogue services on the metadata database: missions (and, later, product classes,
processors and their synchronisation from mission plug-ins).

Service functions take a :class:`~sqlalchemy.orm.Session`, may flush, and never commit.
"""
