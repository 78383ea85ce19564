"""Alembic migrations; shipped as a package so an installed cohortbot can migrate itself."""
