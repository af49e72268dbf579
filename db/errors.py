"""The database errors the layers above react to, named once.

``UNREACHABLE``: the database cannot be reached (down, restarting, the connection lost, the
pool exhausted, an SQLite file that cannot be opened). Nothing is wrong with the request: a
waiting caller rides it out and is served when it is back (R-1.16, R-7.3), a page answers
503 and changes nothing. ``DatabaseError``: anything the database or its driver raised.
"""

from __future__ import annotations

from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from db.engine import DatabaseUnavailableError

UNREACHABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    PoolTimeoutError,
    DatabaseUnavailableError,
)
DatabaseError = SQLAlchemyError

__all__ = ["UNREACHABLE", "DatabaseError", "DatabaseUnavailableError"]
