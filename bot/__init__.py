"""cohortbot: know who an open-source community is and talk to each part of it the right way."""

__version__ = "0.1.0"
