"""Prepared reads: a SELECT built and compiled once per database, run on the driver's cursor.

Every request of every page reads who is signed in, and the desktop its rows (issue 12).
Executing a prebuilt statement through SQLAlchemy still costs about 60 µs of Python per query
(the execution context, events, the result's metadata): several times what SQLite takes to
run it. A :class:`Prepared` compiles its statement once for each dialect it meets, converts
the parameters with the columns' own bind processors, runs the SQL on the DBAPI cursor of
the transaction's connection and converts each value with the column's own result processor
(``UTCDateTime``, enums, booleans): the same values ``Connection.execute`` gives, as plain
tuples (``tests/db/test_prepared.py``). The driver's errors become SQLAlchemy's
(``DBAPIError.instance``) as they do through ``Connection.execute``, so ``db.errors`` still
names a database that went away, and a lost connection is invalidated.

Only for hot reads whose statement has no expanding (``IN``) or literal-execute parameters;
:class:`Prepared` refuses any at compile time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import SelectBase

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    # name, whether the caller must give it, its value when not, the processor
    binds: tuple[tuple[str, bool, Any, Processor | None], ...]
    results: tuple[Processor | None, ...]  # one per column; None: the value as it comes


class Prepared:
    """A SELECT run straight on the driver: :meth:`all` / :meth:`first` of plain tuples."""

    def __init__(self, statement: SelectBase) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def all(self, on: Session | Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        """Every row, each a tuple of the columns' Python values."""
        connection = on.connection() if isinstance(on, Session) else on
        compiled = self._compiled.get(connection.dialect.name)
        if compiled is None:
            compiled = self._compiled[connection.dialect.name] = self._compile(connection.dialect)
        values = _bind_values(compiled, params or {})
        raw = connection.connection  # the pool's proxy of the DBAPI connection
        cursor = None
        try:
            cursor = raw.cursor()
            cursor.execute(compiled.sql, values)
            rows = cursor.fetchall()
            cursor.close()
        except connection.dialect.loaded_dbapi.Error as error:
            lost = connection.dialect.is_disconnect(error, raw.dbapi_connection, cursor)
            if cursor is not None:
                with suppress(connection.dialect.loaded_dbapi.Error):
                    cursor.close()
            if lost:
                connection.invalidate(error)
            raise DBAPIError.instance(
                compiled.sql,
                values,
                error,
                connection.dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=connection.dialect,
            ) from error
        processors = compiled.results
        if not any(processors):
            return [tuple(row) for row in rows]
        return [
            tuple(
                value if p is None else p(value) for p, value in zip(processors, row, strict=True)
            )
            for row in rows
        ]

    def first(self, on: Session | Connection, params: Mapping[str, Any] | None = None) -> Any:
        """The first row (a tuple), or None."""
        rows = self.all(on, params)
        return rows[0] if rows else None

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string or compiled.escaped_bind_names:
            raise ValueError("a prepared read needs plain parameters (no IN lists, plain names)")
        names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
        binds = []
        for name in names:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            binds.append((name, bind.required, bind.value, process))
        results = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in self.statement.selected_columns
        )
        return _Compiled(compiled.string, compiled.positional, tuple(binds), results)


def _bind_values(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    values = []
    for name, required, default, process in compiled.binds:
        value = params[name] if required or name in params else default
        values.append(value if process is None else process(value))
    if compiled.positional:
        return tuple(values)
    return {bind[0]: value for bind, value in zip(compiled.binds, values, strict=True)}
