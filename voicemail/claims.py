"""Working a back-office item: who holds it, until when, and how it ends (R-3.3, R-3.6).

Pure: no Twisted, SQLAlchemy or Klein; time comes in as ``now``. An item's life:

    open ──claim──► claimed by X until T ──done──────────────► done
     ▲                 │  │  └─call back (connected or not): stays claimed, claim renewed
     │                 │  └──cancel / release: back to open, it stays in the queue
     └─────────────────┴─ T passes: the claim has expired and the item is free again
    open (claimed or not) ──a later answered call of the customer──► resolved_by_contact

Two staff never work one item at once (R-3.3): while X's claim runs, anyone else's action
is refused with a message naming X. Every accepted action by the holder renews the claim,
so a claim only lapses when its holder stopped working. A callback request is done only
after a call back that connected: if nobody answered, the request stays in the queue
(the Czech original: "Zrušit — hovor zůstane v záznamníku k vyřízení"). A message may be
done after listening to it.

``transition(status, event, now) -> (status, effects)`` computes; the adapter in
``voicemail/store/queue.py`` writes the new status onto the row and executes the effects
(history rows, live events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from domain.enums import ItemKind, ItemState
from domain.refusals import ConflictError
from domain.texts import N_

# a claim lasts ten minutes unless its holder does something with the item.
CLAIM_TTL_S = 600

NEEDS_CONNECTED_CALLBACK = N_(
    "Call the customer back first. If you could not reach them, use “Could not finish”: "
    "the request stays in the queue."
)
HELD_BY = N_(
    "%(who)s is working on this item. It becomes free in %(minutes)s min unless %(who)s carries on."
)
RESOLVED_ALREADY = N_("This callback request was resolved by a later call with the customer.")
DONE_ALREADY = N_("This item is already done.")
CHANGED_MEANWHILE = N_("This item was changed by someone else meanwhile; try again.")


@dataclass(frozen=True)
class ItemStatus:
    """What the claiming rules need to know about one item."""

    phase: ItemState
    kind: ItemKind
    holder_id: int | None = None
    holder_name: str = ""
    claim_expires_at: datetime | None = None
    # A call back to the customer connected at some point (recorded in the item's history).
    customer_reached: bool = False
    closed_by_id: int | None = None
    closed_at: datetime | None = None
    resolved_by_call_id: int | None = None

    def holder_at(self, now: datetime) -> int | None:
        """Who holds the item at ``now``; None when unclaimed or the claim has expired."""
        if self.phase is not ItemState.OPEN or self.holder_id is None:
            return None
        if self.claim_expires_at is None or now >= self.claim_expires_at:
            return None
        return self.holder_id

    def is_free_for(self, agent_id: int, now: datetime) -> bool:
        holder = self.holder_at(now)
        return holder is None or holder == agent_id


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Claim:
    """Open the item to work on it; by the holder again it renews the claim."""

    agent_id: int
    agent_name: str = ""
    ttl_s: int = CLAIM_TTL_S


@dataclass(frozen=True)
class Release:
    """Let go quietly (the form was closed); the item is open for anyone."""

    agent_id: int


@dataclass(frozen=True)
class Cancel:
    """The Cancel button: the item stays in the queue (R-3.3)."""

    agent_id: int


@dataclass(frozen=True)
class MarkDone:
    agent_id: int
    agent_name: str = ""


@dataclass(frozen=True)
class CallbackAttempt:
    """An outbound call back to the customer ended; ``connected``: they answered.

    The call happened whatever the item's state, so it is always recorded; it takes or
    renews the claim only when the agent may work the item.
    """

    agent_id: int
    call_id: int | None
    connected: bool
    agent_name: str = ""
    ttl_s: int = CLAIM_TTL_S


@dataclass(frozen=True)
class ResolvedByContact:
    """A later answered call with the same customer (R-3.6)."""

    call_id: int


Event = Claim | Release | Cancel | MarkDone | CallbackAttempt | ResolvedByContact


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class RecordHistory:
    """A row in the item's history: who did what, when (the adapter adds the time): a code,
    the call it was about, and parameters the page words in the reader's language."""

    action: str
    agent_id: int | None
    call_id: int | None = None
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Announce:
    """A live event for the back-office list (``backoffice.<what>``)."""

    what: str
    agent_id: int | None = None


Effect = RecordHistory | Announce


# --------------------------------------------------------------------------- errors


class ItemActionError(ConflictError):
    """An action the person may not take now; ``message`` is what they read."""


def claim_minutes(expires_at: datetime, now: datetime) -> int:
    """Whole minutes, rounded up and at least 1, until a claim lapses."""
    return max(1, -(-int((expires_at - now).total_seconds()) // 60))


class ItemClaimedError(ItemActionError):
    """Someone else holds the item (R-3.3)."""

    def __init__(self, holder_id: int, holder_name: str, expires_at: datetime, now: datetime):
        self.holder_id = holder_id
        self.holder_name = holder_name
        self.expires_at = expires_at
        who = holder_name or str(holder_id)
        super().__init__(HELD_BY, {"who": who, "minutes": claim_minutes(expires_at, now)})


def _closed_message(status: ItemStatus) -> str:
    if status.phase is ItemState.RESOLVED_BY_CONTACT:
        return RESOLVED_ALREADY
    return DONE_ALREADY


# --------------------------------------------------------------------------- the machine


def _refuse_unless_free(status: ItemStatus, agent_id: int, now: datetime) -> None:
    if status.phase is not ItemState.OPEN:
        raise ItemActionError(_closed_message(status))
    holder = status.holder_at(now)
    if holder is not None and holder != agent_id:
        assert status.claim_expires_at is not None
        raise ItemClaimedError(holder, status.holder_name, status.claim_expires_at, now)


def _take(
    status: ItemStatus, agent_id: int, agent_name: str, ttl_s: int, now: datetime
) -> tuple[ItemStatus, list[Effect]]:
    """The agent holds the item from now for ``ttl_s``; history only for a new claim."""
    if ttl_s <= 0:
        raise ValueError(f"a claim must last a positive time, not {ttl_s} s")
    effects: list[Effect] = []
    if status.holder_at(now) != agent_id:
        lapsed = status.holder_id is not None and status.holder_id != agent_id
        previous = {"previous_holder": status.holder_name or str(status.holder_id)}
        effects = [
            RecordHistory("claimed", agent_id, params=previous if lapsed else {}),
            Announce("claimed", agent_id),
        ]
    new = replace(
        status,
        holder_id=agent_id,
        holder_name=agent_name or (status.holder_name if status.holder_id == agent_id else ""),
        claim_expires_at=now + timedelta(seconds=ttl_s),
    )
    return new, effects


def _unclaimed(status: ItemStatus) -> ItemStatus:
    return replace(status, holder_id=None, holder_name="", claim_expires_at=None)


def transition(status: ItemStatus, event: Event, now: datetime) -> tuple[ItemStatus, list[Effect]]:
    """The item's next status and what to record; raises ItemActionError when refused."""
    if isinstance(event, Claim):
        _refuse_unless_free(status, event.agent_id, now)
        return _take(status, event.agent_id, event.agent_name, event.ttl_s, now)

    if isinstance(event, Release | Cancel):
        action = "cancelled" if isinstance(event, Cancel) else "released"
        if status.phase is not ItemState.OPEN:
            return status, []  # the form closes after Done; nothing left to let go of
        holder = status.holder_at(now)
        if holder is None:
            return _unclaimed(status), []  # nothing held (or the claim lapsed already)
        if holder != event.agent_id:
            _refuse_unless_free(status, event.agent_id, now)
        return _unclaimed(status), [
            RecordHistory(action, event.agent_id),
            Announce(action, event.agent_id),
        ]

    if isinstance(event, MarkDone):
        _refuse_unless_free(status, event.agent_id, now)
        if status.kind is ItemKind.CALLBACK and not status.customer_reached:
            raise ItemActionError(NEEDS_CONNECTED_CALLBACK)
        done = replace(
            _unclaimed(status), phase=ItemState.DONE, closed_by_id=event.agent_id, closed_at=now
        )
        return done, [RecordHistory("done", event.agent_id), Announce("done", event.agent_id)]

    if isinstance(event, CallbackAttempt):
        action = "callback_connected" if event.connected else "callback_not_connected"
        effects: list[Effect] = [
            RecordHistory(action, event.agent_id, event.call_id),
            Announce("callback", event.agent_id),
        ]
        new = status
        if status.phase is ItemState.OPEN:
            new = replace(new, customer_reached=status.customer_reached or event.connected)
            if status.is_free_for(event.agent_id, now):
                new, claim_effects = _take(new, event.agent_id, event.agent_name, event.ttl_s, now)
                effects = claim_effects + effects
        return new, effects

    if isinstance(event, ResolvedByContact):
        if status.phase is not ItemState.OPEN or status.kind is not ItemKind.CALLBACK:
            return status, []
        resolved = replace(
            _unclaimed(status),
            phase=ItemState.RESOLVED_BY_CONTACT,
            closed_by_id=None,
            closed_at=now,
            resolved_by_call_id=event.call_id,
        )
        return resolved, [
            RecordHistory("resolved_by_contact", None, event.call_id),
            Announce("resolved"),
        ]

    raise ItemActionError(f"unknown event {event!r}")
