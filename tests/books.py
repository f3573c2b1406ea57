"""The books after a production run, for the end-to-end tests and the chaos benchmark."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select

from proseo.db import Database
from proseo.model import Product, ProductClass, ProductFile


def made_products(database: Database) -> Counter[tuple[str, datetime | None, datetime | None]]:
    """The main products (not components) that job steps made and stored, counted by
    (product type, sensing start, sensing stop): a count above one is a window made twice."""
    with database.transaction() as session:
        return Counter(
            session.execute(
                select(ProductClass.product_type, Product.sensing_start, Product.sensing_stop)
                .join(Product, Product.product_class_id == ProductClass.id)
                .join(ProductFile, ProductFile.product_id == Product.id)
                .where(Product.job_step_id.is_not(None), Product.enclosing_product_id.is_(None))
            ).tuples()
        )
