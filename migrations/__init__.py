"""Alembic migrations; shipped as a package so an installed Hotline can upgrade its database."""
