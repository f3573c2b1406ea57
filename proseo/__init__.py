"""proseo-py: production control for Earth-observation satellite data.

Kept deliberately light: the processor wrapper imports from this package on execution
nodes where SQLAlchemy and FastAPI are not installed, so nothing heavy is imported here.
"""

__version__ = "0.1.0"
