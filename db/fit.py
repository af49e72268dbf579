"""Text from outside (a trunk's caller ID, a spooled request) cut to the column it goes in:
PostgreSQL refuses what does not fit where SQLite would keep it, and a call must never be
lost over a caller name (R-7.2)."""

from __future__ import annotations

from db.models import Base


def fit(model: type[Base], column: str, value: str) -> str:
    """``value`` cut to the length of ``model.column`` (unchanged for a column without one)."""
    length = getattr(model.__table__.c[column].type, "length", None)
    return value[:length] if isinstance(length, int) else value
