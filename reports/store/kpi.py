"""The KPI of R-5.4 from the call records: reachability, service level, lost and not
recovered (the definitions are in ``docs/kpi.md``).

What each call means for them is stored on the call as it ends (``record_box_choice``, and
``dialplan.store.calls.answered`` with :func:`service_level_threshold_s`), with the
threshold in force then; :func:`kpi_for_calls` counts them over a period, or recomputes the
service level for another threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Executable, or_, select
from sqlalchemy.orm import Session

from db.models import Call, CustomerPhone, Queue, RingAttempt, Setting, VoicemailItem
from domain.centre import DEFAULT_SERVICE_LEVEL_S
from domain.enums import FINAL_STATES, CallState, Direction, RingOutcome
from domain.numbers import is_country_prefix
from voicemail.store.parties import centre_prefix, digits_of, known_prefixes, written_forms


@dataclass(frozen=True)
class KpiSummary:
    """R-5.4 figures for inbound calls handed to a queue in ``[since, until)``."""

    since: datetime
    until: datetime
    service_level_s: int
    calls: int  # the population both rates divide by
    answered: int
    voicemail: int
    callback: int
    abandoned: int  # hung up while waiting or ringing
    closed: int  # reached a closed queue and left no request
    other: int
    reached: int
    within_service_level: int
    lost: int
    lost_not_recovered: int  # lost, and not connected later in either direction
    in_progress: int  # not counted: still live
    transferred: int  # not counted: the call carries on as another leg
    fallback: int  # not counted: handed to the dialplan's fallback, outcome unknown
    # Summed over the answered calls, for the queue report's averages (docs/kpi.md):
    # queue_entered_at to answered_at, and answered_at to ended_at.
    answered_wait_s: float = 0.0
    answered_talk_s: float = 0.0

    @property
    def average_wait_s(self) -> float | None:
        return self.answered_wait_s / self.answered if self.answered else None

    @property
    def average_talk_s(self) -> float | None:
        return self.answered_talk_s / self.answered if self.answered else None

    @property
    def abandonment(self) -> float | None:
        return self.abandoned / self.calls if self.calls else None

    @property
    def reachability(self) -> float | None:
        return self.reached / self.calls if self.calls else None

    @property
    def service_level(self) -> float | None:
        return self.within_service_level / self.calls if self.calls else None


def service_level_threshold_s(session: Session) -> int:
    """The centre's service-level threshold (R-5.4): the ``service_level_s`` setting of the
    contact-centre data (``docs/catalog-yaml.md``), else 20 s."""
    stored = session.get(Setting, "service_level_s")
    if stored is not None and stored.value.isdigit() and int(stored.value) > 0:
        return int(stored.value)
    return DEFAULT_SERVICE_LEVEL_S


def record_box_choice(session: Session, call: Call, now: datetime) -> None:
    """Store on the call what choosing voicemail or a callback means for R-5.4.

    Called by ``dialplan.store.calls.close_call`` when the call ends in a box, which the
    flows do right after storing the message or request: reached, always; within the
    service level when the choice came within the threshold in force now, counted from
    ``queue_entered_at`` (when the caller chose: ``_box_chosen_at``). A call never handed to
    a queue has no wait to measure and is not within it.
    """
    call.reached = True
    waited_from = call.queue_entered_at
    if waited_from is None:
        call.within_service_level = False
        return
    chosen = _box_chosen_at(session, [call.id]).get(call.id, now)
    call.within_service_level = chosen - waited_from <= timedelta(
        seconds=service_level_threshold_s(session)
    )


_ABANDONED = (CallState.ABANDONED_QUEUE, CallState.ABANDONED_RINGING)


def kpi_for_calls(
    session: Session,
    since: datetime,
    until: datetime,
    *,
    queue_id: int | None = None,
    service_level_s: int | None = None,
) -> KpiSummary:
    """Reachability and service level (R-5.4) of inbound calls handed to a queue.

    The definitions, with the choices made, are in ``docs/kpi.md``. Without
    ``service_level_s`` the figures are what the flows stored on each call when it was
    answered or chose a box (``Call.reached``, ``Call.within_service_level``, with the
    threshold in force then); ``service_level_s`` given recomputes the service level with
    that threshold from the same moments (a "what if" for a report).
    """
    where = _population(since, until)
    if queue_id is not None:
        where.append(Call.queue_id == queue_id)
    rows = _rows(session, where)
    return _Counting(session, since, until, service_level_s, rows).summary(rows)


def kpi_per_queue(
    session: Session,
    since: datetime,
    until: datetime,
    queue_ids: Sequence[int],
    *,
    service_level_s: int | None = None,
) -> dict[int, KpiSummary]:
    """:func:`kpi_for_calls` of each of ``queue_ids``, in one read of the calls."""
    rows = _rows(session, [*_population(since, until), Call.queue_id.in_(sorted(queue_ids))])
    counting = _Counting(session, since, until, service_level_s, rows)
    by_queue: dict[int, list[Any]] = {queue_id: [] for queue_id in queue_ids}
    for row in rows:
        by_queue[row.queue_id].append(row)
    return {queue_id: counting.summary(found) for queue_id, found in by_queue.items()}


def _population(since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    return [
        Call.direction == Direction.INBOUND,
        Call.queue_entered_at.is_not(None),
        Call.started_at >= since,
        Call.started_at < until,
    ]


def _rows(session: Session, where: list[ColumnElement[bool]]) -> Sequence[Any]:
    # The columns the figures need, not whole calls, read through Core, not the ORM's
    # loading: a month is tens of thousands of rows.
    query = (
        select(
            Call.id,
            Call.state,
            Call.queue_id,
            Call.customer_id,
            Call.caller_number,
            Call.started_at,
            Call.queue_entered_at,
            Call.answered_at,
            Call.ended_at,
            Call.reached,
            Call.within_service_level,
        )
        .where(*where)
        .order_by(Call.started_at, Call.id)
    )
    return session.connection().execute(query).all()


class _Counting:
    """What the summaries of some calls share: the threshold, when box callers chose, and
    which lost callers were recovered (worked out once for all of them)."""

    def __init__(
        self,
        session: Session,
        since: datetime,
        until: datetime,
        service_level_s: int | None,
        rows: Sequence[Any],
    ) -> None:
        self.since, self.until = since, until
        self.stored = service_level_s is None
        self.threshold_s = (
            service_level_s if service_level_s is not None else service_level_threshold_s(session)
        )
        final = [r for r in rows if r.state in FINAL_STATES]
        self.chosen = (
            {}
            if self.stored
            else _box_chosen_at(session, [r.id for r in final if r.state in _BOX_STATES])
        )
        lost = [r for r in final if not r.reached and r.state in _ABANDONED]
        self.recovered = _recovered(session, lost)

    def summary(self, found: Sequence[Any]) -> KpiSummary:
        stored, limit = self.stored, timedelta(seconds=self.threshold_s)
        counted = []
        in_progress = transferred = fallback = 0
        for call in found:
            if call.state not in FINAL_STATES:
                in_progress += 1
            elif call.state is CallState.TRANSFERRED:
                transferred += 1
            elif call.state is CallState.FALLBACK:
                fallback += 1
            else:
                counted.append(call)
        answered = voicemail = callback = abandoned = closed = other = 0
        reached = within = 0
        wait_s = talk_s = 0.0
        lost_calls = []
        for call in counted:
            waited_from = call.queue_entered_at
            assert waited_from is not None
            if call.answered_at is not None:
                answered += 1
                wait_s += (call.answered_at - waited_from).total_seconds()
                if call.ended_at is not None:
                    talk_s += (call.ended_at - call.answered_at).total_seconds()
                if call.within_service_level if stored else call.answered_at - waited_from <= limit:
                    within += 1
            elif call.state in _BOX_STATES:
                if call.state is CallState.VOICEMAIL:
                    voicemail += 1
                else:
                    callback += 1
                at = self.chosen.get(call.id) or call.ended_at
                if (
                    call.within_service_level
                    if stored
                    else at is not None and at - waited_from <= limit
                ):
                    within += 1
            elif call.state in _ABANDONED:
                abandoned += 1
            elif call.state is CallState.CLOSED:
                closed += 1
            else:
                other += 1
            if call.reached:
                reached += 1
            elif call.state in _ABANDONED:
                lost_calls.append(call)
        return KpiSummary(
            since=self.since,
            until=self.until,
            service_level_s=self.threshold_s,
            calls=len(counted),
            answered=answered,
            voicemail=voicemail,
            callback=callback,
            abandoned=abandoned,
            closed=closed,
            other=other,
            reached=reached,
            within_service_level=within,
            lost=len(lost_calls),
            lost_not_recovered=sum(1 for c in lost_calls if c.id not in self.recovered),
            in_progress=in_progress,
            transferred=transferred,
            fallback=fallback,
            answered_wait_s=wait_s,
            answered_talk_s=talk_s,
        )


_BOX_STATES = (CallState.VOICEMAIL, CallState.CALLBACK)


def _box_chosen_at(session: Session, ids: list[int]) -> dict[int, datetime]:
    """When each caller chose voicemail or a callback (R-5.4).

    Exact when the caller pressed ``#``/``0`` while an agent rang: the ring attempt ended
    ``cancelled`` then. Otherwise the back-office item tells: a callback request is taken at
    once; a message is stored when the recording ends, so its start is ``created_at`` minus
    its duration (a few seconds of greeting late, which errs against the service level).
    """
    if not ids:
        return {}
    chosen: dict[int, datetime] = {}
    for call_id, ended in session.execute(
        select(RingAttempt.call_id, RingAttempt.ended_at).where(
            RingAttempt.call_id.in_(ids),
            RingAttempt.outcome == RingOutcome.CANCELLED,
        )
    ):
        if ended is not None and (call_id not in chosen or ended < chosen[call_id]):
            chosen[call_id] = ended
    for item in session.scalars(select(VoicemailItem).where(VoicemailItem.call_id.in_(ids))):
        assert item.call_id is not None
        if item.call_id in chosen:
            continue
        chosen[item.call_id] = item.created_at - timedelta(seconds=item.duration_s or 0)
    return chosen


def _recovered(session: Session, lost_calls: Sequence[Any]) -> set[int]:
    """The lost calls whose callers were connected later, in either direction (R-4.5): a call of
    theirs answered after the lost one ended, inbound from any of their numbers (in any
    written form) or outbound to one, or any call of the customer they are.

    In a handful of queries whatever the number of lost calls: the parties are worked out
    together, then one pass over the answered calls of all of them (their number forms
    and customers, in chunks) keeps, per customer and per number, the latest answer."""
    if not lost_calls:
        return set()
    centre = centre_prefix(session)
    prefixes = known_prefixes(session)
    queue_prefix = {
        queue_id: prefix
        for queue_id, prefix in session.execute(select(Queue.id, Queue.country_prefix))
        if prefix and is_country_prefix(prefix)
    }
    numbers = {
        lost.id: digits_of(lost.caller_number, queue_prefix.get(lost.queue_id, centre))
        for lost in lost_calls
    }
    owners: dict[str, set[int]] = {}
    for digits, customer_id in _in_chunks(
        session,
        lambda chunk: select(CustomerPhone.digits, CustomerPhone.customer_id).where(
            CustomerPhone.digits.in_(chunk)
        ),
        {d for d in numbers.values() if d},
    ):
        owners.setdefault(digits, set()).add(customer_id)
    customer_of: dict[int, int | None] = {}
    for lost in lost_calls:
        found = owners.get(numbers[lost.id], set())
        customer_of[lost.id] = lost.customer_id or (min(found) if len(found) == 1 else None)
    customer_digits: dict[int, set[str]] = {}
    for customer_id, digits in _in_chunks(
        session,
        lambda chunk: select(CustomerPhone.customer_id, CustomerPhone.digits).where(
            CustomerPhone.customer_id.in_(chunk)
        ),
        {c for c in customer_of.values() if c is not None},
    ):
        customer_digits.setdefault(customer_id, set()).add(digits)
    forms_of: dict[int, set[str]] = {}
    for lost in lost_calls:
        digits = {numbers[lost.id]} | customer_digits.get(customer_of[lost.id] or -1, set())
        forms_of[lost.id] = written_forms(digits - {""}, prefixes)

    since = min(lost.ended_at or lost.started_at for lost in lost_calls)
    latest_by_customer: dict[int, datetime] = {}
    latest_by_number: dict[str, datetime] = {}  # inbound caller, or outbound callee

    def keep(latest: dict[Any, datetime], key: Any, at: datetime) -> None:
        if key not in latest or latest[key] < at:
            latest[key] = at

    answered = (
        Call.answered_at.is_not(None),
        Call.answered_at >= since,
    )
    columns = (Call.customer_id, Call.direction, Call.caller_number, Call.callee_number)
    all_forms = set().union(*forms_of.values())
    for customer_id, direction, caller, callee, at in _in_chunks(
        session,
        lambda chunk: select(*columns, Call.answered_at).where(
            *answered,
            or_(
                (Call.direction == Direction.INBOUND) & Call.caller_number.in_(chunk),
                (Call.direction == Direction.OUTBOUND) & Call.callee_number.in_(chunk),
            ),
        ),
        all_forms,
    ):
        keep(latest_by_number, caller if direction is Direction.INBOUND else callee, at)
        if customer_id is not None:
            keep(latest_by_customer, customer_id, at)
    for customer_id, _direction, _caller, _callee, at in _in_chunks(
        session,
        lambda chunk: select(*columns, Call.answered_at).where(
            *answered, Call.customer_id.in_(chunk)
        ),
        {c for c in customer_of.values() if c is not None},
    ):
        keep(latest_by_customer, customer_id, at)

    recovered = set()
    for lost in lost_calls:
        after = lost.ended_at or lost.started_at
        customer_id = customer_of[lost.id]
        latest = [latest_by_number.get(form) for form in forms_of[lost.id]]
        if customer_id is not None:
            latest.append(latest_by_customer.get(customer_id))
        if any(at is not None and at >= after for at in latest):
            recovered.add(lost.id)
    return recovered


_CHUNK = 500  # values in one IN (), well under every database's limit of bound values


def _in_chunks(
    session: Session, query: Callable[[list[Any]], Executable], values: Collection[Any]
) -> Iterator[Any]:
    """The rows of ``query(chunk)`` for the sorted ``values`` in chunks of ``_CHUNK``."""
    ordered = sorted(values)
    for start in range(0, len(ordered), _CHUNK):
        yield from session.connection().execute(query(ordered[start : start + _CHUNK]))


# answered within 20 s counts toward the service level by default.
