"""Natural keys: the file names records by code, login, name or position, never by id.

:class:`Ref` is a reference read from the file; ``KEY_COLUMNS`` says which column of which
model holds each kind's key, ``KIND_NOUN`` how a message names it; ``chunks`` splits key
lists for ``IN (...)`` queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from db.catalog.problems import Bad, Node, line_of, why
from db.catalog.values import Read, describe, read_int, scalar
from db.models import (
    Agent,
    Customer,
    Department,
    IvrMenu,
    Location,
    PauseType,
    PhoneSeat,
    Queue,
    VoicemailBox,
)
from domain.texts import N_

MAX_PAUSE_TYPES = 9  # a pause type's key is its position 1..9
_CHUNK = 500  # keys per IN (...) list


KIND_NOUN = {
    "location": why(N_("location code")),
    "customer": why(N_("customer contract number")),
    "department": why(N_("department name")),
    "pause_type": why(N_("pause type position")),
    "box": why(N_("voicemail box code")),
    "seat": why(N_("phone seat name")),
    "agent": why(N_("agent login")),
    "queue": why(N_("queue code")),
    "menu": why(N_("IVR menu code")),
}


KEY_COLUMNS: dict[str, tuple[type[Any], str]] = {
    "location": (Location, "code"),
    "customer": (Customer, "contract_number"),
    "department": (Department, "name"),
    "pause_type": (PauseType, "position"),
    "box": (VoicemailBox, "code"),
    "seat": (PhoneSeat, "name"),
    "agent": (Agent, "login"),
    "queue": (Queue, "code"),
    "menu": (IvrMenu, "code"),
}


@dataclass(frozen=True)
class Ref:
    """A reference by natural key to a record of ``kind``, with the line that names it."""

    kind: str
    key: str | int
    line: int


def read_ref(kind: str, max_len: int, *, nullable: bool = True) -> Read:
    def read(node: Node) -> Ref | None:
        value = scalar(node)
        if value is None and nullable:
            return None
        if not isinstance(value, str) or not value:
            raise Bad(
                node,
                N_("expected the %(noun)s (text), got %(value)s"),
                noun=KIND_NOUN[kind],
                value=describe(value),
            )
        if len(value) > max_len:
            raise Bad(node, N_("longer than %(max_len)s characters"), max_len=max_len)
        return Ref(kind, value, line_of(node))

    return read


def read_pause_ref(node: Node) -> Ref | None:
    position = read_int(1, MAX_PAUSE_TYPES, nullable=True)(node)
    return None if position is None else Ref("pause_type", position, line_of(node))


def chunks(keys: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]
