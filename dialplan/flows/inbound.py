"""The inbound call, top to bottom: IVR -> queue -> offers -> conversation, or a box.

Scripts (see asterisk-conf/extensions.conf):
- ``inbound,<DID>``: a new call on a DID (R-1.1 .. R-1.11); it reaches a voicemail box by
  the hours' rules or by ``#`` and ``0`` (R-3.4).
- ``resume,<DID>``: the dialplan's way back after a FastAGI server died or restarted while it
  drove the call (R-1.16): the call carries on from its stored state, keeping the original
  waiting start.
- ``answered,<call id>,<attempt id>``: the ``U()`` gosub on the agent leg at the moment the
  agent picks up (docs/architecture.md, decision 1).

A transfer from the desktop (R-1.12) redirects the caller's channel; this session sees it as
a hang-up (transcript redirect-001), tells the two apart (:func:`drive`) and leaves the call
to the ``transfer`` script (``dialplan.flows.transfer``), which reuses the queue part here.

Every step that changes the call writes it to the database first, so that another server
process can resume it. A caller hanging up surfaces as ``ChannelHungUp`` from any channel
call; the flow then closes the call with the state of where it stood (R-1.15).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from callbacks.intake import take_callback_request
from db.errors import UNREACHABLE, DatabaseError
from dialplan import channel_vars
from dialplan import escalation as esc
from dialplan.call_journal import CallArrival, CallEnd
from dialplan.channel_vars import (
    DIAL_STATUS_VARIABLE,
    DONE,
    DONE_VARIABLE,
    EXIT_CONTEXT_VARIABLE,
    EXIT_KEY_VARIABLE,
    MIXMONITOR_VARIABLE,
    TO_FALLBACK,
)
from dialplan.flows.context import FlowContext
from dialplan.flows.trunk import trunk_dial_string
from dialplan.menu import MAX_MENU_VISITS, GiveUp, Retry, ToMenu, ToQueue, step
from dialplan.store import calls, routing
from dialplan.support_turns import TurnRoute, ring_order, route_for
from domain.centre import DEFAULT_COUNTRY_PREFIX
from domain.enums import FINAL_STATES, CallState, ClosedAction, Direction, RingOutcome
from domain.numbers import normalise_number
from fastagi.channel import AGIChannel, HangupKind
from fastagi.errors import AGICommandError, ChannelHungUp, ChannelRedirected
from voicemail.intake import Caller, take_message, wav_seconds

T = TypeVar("T")
_log = Logger()

ALL_KEYS = "0123456789*#"
# The database cannot be reached (db.errors.UNREACHABLE): a waiting caller rides it out.
# Other database errors (a constraint, a bug) fail the call (see :func:`drive`).
# Dial's result when the caller pressed a key listed in option d (transcript 004).
_KEY_CODES = {35: "#", 48: "0"}


@dataclass(frozen=True)
class LegRecording:
    """A recording of one call leg: its file (relative to the recordings directory) and
    when it started."""

    path: str
    # None: from the answer (a resumed session's recorder, found when the conversation ended).
    started_at: datetime | None


@dataclass
class Where:
    """Where the call stands, for the state it gets if the caller hangs up (R-1.15)."""

    call_id: int
    phase: str = "ivr"  # ivr | queue | ringing | talking | done
    # A transferred call: the queue it came from and who moved it, for the
    # status line of the agents it is offered to.
    from_queue: str = ""
    by_agent: str = ""
    # The name of this leg's recording file; the caller's uniqueid when empty (a transferred
    # leg has the same uniqueid as the leg before it, so it needs a name of its own).
    recording_name: str = ""
    # For the log lines that follow a call (issue 10): its uniqueid, DID and queue.
    uniqueid: str = ""
    did: str = ""
    queue: str = ""
    # When the call began: the day its files are filed under, so that a resumed session
    # finds what the one before it recorded.
    opened_at: datetime | None = None
    # This leg's recording of the conversation, once started.
    recording: LegRecording | None = None
    # Music on hold started by this session is playing.
    music: bool = False
    # Its end is written (and logged).
    ended: bool = False
    # When the conversation ended, as Dial returned: the end written even if the database
    # can only take it later (issue 11, item 1).
    talk_ended_at: datetime | None = None

    def abandoned_state(self) -> CallState:
        if self.phase == "ringing":
            return CallState.ABANDONED_RINGING
        if self.phase == "queue":
            return CallState.ABANDONED_QUEUE
        if self.phase == "talking":
            return CallState.ANSWERED
        return CallState.ABANDONED_IVR


async def inbound(channel: AGIChannel, ctx: FlowContext, *, resume: bool = False) -> None:
    """Drive one inbound call; ``resume`` continues a call another process started."""
    request = channel.request
    did = request.args[0] if request.args else request.extension
    now = ctx.now()
    existing = await ctx.db.run(calls.find_call, request.uniqueid) if resume else None
    if existing is not None and existing.state == CallState.FALLBACK.value:
        await hand_to_fallback(channel)  # its flow broke and could not say so on the channel
        return
    if existing is not None and existing.state in {s.value for s in FINAL_STATES}:
        await finish_session(channel)  # nothing left to do for this call
        return
    caller_number = request.callerid if request.callerid != "unknown" else ""
    arrival = CallArrival(
        uniqueid=request.uniqueid,
        at=now,
        linkedid=request.env.get("agi_linkedid", ""),
        did=did,
        caller_number=caller_number,
        caller_name=request.calleridname if request.calleridname != "unknown" else "",
        channel=request.channel,
    )
    journalled = ctx.journal.entry(request.uniqueid) if resume else None
    if journalled is not None and journalled.arrival is not None:
        # It arrived while the database was down and its server went away: it started then.
        arrival = replace(arrival, at=journalled.arrival.at)

    def open_it() -> Deferred[calls.CallView | None]:
        return ctx.db.run(
            calls.open_call,
            uniqueid=arrival.uniqueid,
            linkedid=arrival.linkedid,
            direction=Direction.INBOUND,
            now=ctx.now(),
            started_at=arrival.at,
            did=arrival.did,
            caller_number=arrival.caller_number,
            caller_name=arrival.caller_name,
            driven_by=ctx.node,
            channel=arrival.channel,
            only_new=not resume,
        )

    answered_already = False
    call: calls.CallView | _Gone | None
    try:
        call = await open_it()
    except UNREACHABLE as exc:
        if resume:
            raise  # the dialplan's resume chain tries again
        call = await _open_through_outage(channel, ctx, arrival, open_it, exc)
        answered_already = True
    else:
        if journalled is not None and call is not None:
            ctx.journal.forget(request.uniqueid)  # the database has the arrival now
    if isinstance(call, _Gone):
        return
    if call is None:
        # A second `inbound` session for a call that exists (Asterisk never starts one for
        # the same channel twice): it must not drive the call another session drives
        # (issue 11, item 6). Its channel goes to the plain fallback.
        _log.warn(
            "call {uniqueid}: a second inbound session for it refused", uniqueid=request.uniqueid
        )
        await hand_to_fallback(channel)
        return
    where = Where(call.id, uniqueid=call.uniqueid, did=did, opened_at=call.started_at)
    _log.info(
        "call {uniqueid} {what}: from {caller} to DID {did}",
        uniqueid=call.uniqueid,
        what="resumed" if existing is not None else "started",
        caller=caller_number or "unknown",
        did=did,
    )

    async def serve() -> None:
        if not resume and not answered_already:
            await channel.answer()
        cfg = await _queue_of_resumed(ctx, existing) if existing else None
        key: str | None = None
        if existing is not None:
            where.phase = "queue" if cfg is not None else "ivr"
            where.queue = cfg.code if cfg is not None else ""
            left = await _what_asterisk_did(channel, ctx, where, existing, cfg)
            if left is _DONE:
                return
            key = left
        queue_code = cfg.code if cfg is not None else None
        if queue_code is None:
            route = await ctx.db.read(routing.did_route, did, time_zone=ctx.settings.time_zone)
            target = route.target if route is not None else None
            cfg = route.queue if route is not None else None
            if target is None:
                _log.warn(
                    "call {uniqueid}: no DID {did} configured", uniqueid=call.uniqueid, did=did
                )
                await channel.stream_file(ctx.settings.not_in_service_prompt)
                await close_leg(ctx, where, CallState.FAILED, cause="unknown DID")
                await finish_session(channel)
                return
            # callers of a DID hear its language's prompts from here on.
            await channel.set_variable(channel_vars.LANGUAGE_VARIABLE, target.language)
            queue_code = target.queue_code or await _ivr(channel, ctx, where, target.menu_code)
        if queue_code is None:
            await channel.stream_file(ctx.settings.goodbye_prompt)
            await close_leg(ctx, where, CallState.ABANDONED_IVR, cause="no choice in IVR")
            await finish_session(channel)
            return
        if cfg is not None and cfg.code != queue_code:
            cfg = None  # the IVR chose another queue than the DID's
        await serve_queue(
            channel, ctx, where, queue_code, resumed=existing is not None, key=key, cfg=cfg
        )

    await drive(channel, ctx, where, serve)


# --------------------------------------------------------------------------- outage


class _Gone:
    """The call needs nothing more of this session (see :func:`_open_through_outage`)."""


_GONE = _Gone()


async def _open_through_outage(
    channel: AGIChannel,
    ctx: FlowContext,
    arrival: CallArrival,
    open_it: Callable[[], Deferred[calls.CallView | None]],
    error: Exception,
) -> calls.CallView | _Gone | None:
    """A call arrived while the database is down (issue 11, item 3; R-7.3).

    The arrival goes into the calls' journal at once, so the call is recorded even if the
    database stays away or this server dies. The caller hears music while the call is
    tried again at every poll; once the database takes it (with its real start) it goes on
    as any call. If the caller hangs up meanwhile, or the database is still down after
    ``outage_wait_s`` and the dialplan's fallback takes the caller, that end is journalled
    too and the janitor writes both when the database is back."""
    uniqueid = arrival.uniqueid
    ctx.journal.arrived(arrival)
    _log.warn(
        "call {uniqueid}: database unavailable as it arrived; kept in the journal, the caller "
        "waits with music: {error}",
        uniqueid=uniqueid,
        error=str(error).splitlines()[0],
    )
    try:
        await channel.answer()
        await channel.start_music_on_hold()
        while True:
            await channel.wait_for_digit(ctx.settings.poll_ms)  # no menu without the database
            try:
                call = await open_it()
            except UNREACHABLE:
                if (ctx.now() - arrival.at).total_seconds() < ctx.settings.outage_wait_s:
                    continue
                break
            ctx.journal.forget(uniqueid)
            await channel.stop_music_on_hold()
            _log.info("call {uniqueid}: the database is back, the call goes on", uniqueid=uniqueid)
            return call
    except ChannelHungUp:
        if channel.closed and not channel.hung_up:
            raise  # this server is going away: the resume finds the journalled arrival
        ctx.journal.ended(
            CallEnd(uniqueid, CallState.ABANDONED_IVR.value, ctx.now(), "caller hung up")
        )
        _log.info(
            "call {uniqueid} ended: {state} while the database was down (journalled)",
            uniqueid=uniqueid,
            state=CallState.ABANDONED_IVR.value,
        )
        await _mark_done(channel)
        return _GONE
    cause = "database unavailable"
    ctx.journal.ended(CallEnd(uniqueid, CallState.FALLBACK.value, ctx.now(), cause))
    _log.warn(
        "call {uniqueid} ended: {state} ({cause}; journalled)",
        uniqueid=uniqueid,
        state=CallState.FALLBACK.value,
        cause=cause,
    )
    await channel.stop_music_on_hold()
    await hand_to_fallback(channel)
    return _GONE


# --------------------------------------------------------------------------- resume

_DONE = "done"  # what _what_asterisk_did says when the resumed call needs nothing more


async def _what_asterisk_did(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    call: calls.CallView,
    cfg: routing.QueueConfig | None,
) -> str | None:
    """A resumed call: what became of what the dead session had started, as Asterisk
    tells it (issue 10, defects 3 and 4), before anything else is done with the call.

    Asterisk goes on with a ``Dial`` or a ``RECORD FILE`` after the FastAGI server that
    started it died; the answer hook of a Dial cannot reach a dead server. So a message
    that is on disk is taken in; a conversation that took place is stored as answered
    (from the answer hook's time, or the ring's start when the hook could not tell) with
    its recording; a ring that ended otherwise is ended as Asterisk says. Returns ``_DONE``
    when the call needs nothing more, the key (``#``, ``0``) that sends it to a box, or
    None to carry on waiting.
    """
    message = _message_path(ctx, where)
    seconds = wav_seconds(ctx.settings.recordings_dir / message)
    if seconds is not None:
        box = cfg.voicemail_box if cfg is not None else None
        if box is not None:
            await _message_recorded(channel, ctx, where, box.id, _prefix(cfg), seconds)
            return _DONE
    if call.state == CallState.TALKING.value:
        answered_at = call.answered_at or ctx.now()
        where.phase = "talking"
        await _conversation_over(channel, ctx, where, answered_at)
        await close_leg(ctx, where, CallState.ANSWERED)
        await finish_session(channel)
        return _DONE
    if call.state == CallState.IN_BOX.value:
        return "0" if call.flow_step == calls.BOX_CALLBACK else "#"
    if call.state != CallState.RINGING.value:
        return None
    ring = await ctx.db.run(calls.live_ring, call.id)
    if ring is None:
        return None
    dial_status = (await channel.get_variable(DIAL_STATUS_VARIABLE) or "").upper()
    _log.info(
        "call {uniqueid}: resumed after a ring that ended {status}",
        uniqueid=call.uniqueid,
        status=dial_status or "unknown",
    )
    if dial_status == "ANSWER":
        answered_at = call.answered_at or ring.started_at
        if call.answered_at is None:  # the answer hook could not reach a server
            await ctx.db.run(calls.answered, ring.attempt_id, answered_at)
        where.phase = "talking"
        await _conversation_over(channel, ctx, where, answered_at)
        await close_leg(ctx, where, CallState.ANSWERED)
        await finish_session(channel)
        return _DONE
    missed = dial_status == "NOANSWER" and cfg is not None and cfg.policy.pause_on_missed_call
    outcome = _RING_OUTCOMES.get(dial_status, RingOutcome.FAILED)
    await ctx.db.run(
        calls.end_offer,
        ring.attempt_id,
        outcome,
        ctx.now(),
        missed=missed,
        missed_pause_type_id=cfg.missed_call_pause_type_id if cfg is not None else None,
    )
    if dial_status == "CANCEL":
        key = await channel.get_variable(EXIT_KEY_VARIABLE)
        return key if key in ("#", "0") else None
    return None


# How a ring ended, by Dial's DIALSTATUS (CANCEL: the caller pressed a key or hung up).
_RING_OUTCOMES = {
    "NOANSWER": RingOutcome.NO_ANSWER,
    "BUSY": RingOutcome.BUSY,
    "CANCEL": RingOutcome.CANCELLED,
    "CHANUNAVAIL": RingOutcome.FAILED,
    "CONGESTION": RingOutcome.FAILED,
}


def _prefix(cfg: routing.QueueConfig | None) -> str:
    return cfg.country_prefix if cfg is not None else DEFAULT_COUNTRY_PREFIX


async def drive(
    channel: AGIChannel, ctx: FlowContext, where: Where, serve: Callable[[], Awaitable[None]]
) -> None:
    """Run ``serve`` and close the call the way the caller left it (R-1.15).

    A redirect (a transfer, R-1.12) reaches this session as a hang-up (redirect-001): the
    call is left open for the ``transfer`` session that follows. A socket cut without
    Asterisk's ``HANGUP`` line leaves it open for resume (R-1.16).

    Any other failure (an AGI timeout or command error, a database error, a bug) must not
    drop the caller: the call ends for Hotline as ``fallback`` with the error as cause, an
    agent whose phone it rang is freed, and the dialplan hands the caller to its plain
    fallback destination (R-1.16) -- unless the process is shutting down, when the call
    stays open for the dialplan's resume. The FastAGI server logs the failure with the
    uniqueid and closes the session.
    """
    uniqueid = channel.request.uniqueid
    try:
        await serve()
    except ChannelHungUp as hung_up:
        if channel.closed and not channel.hung_up:
            # The socket was cut without Asterisk's HANGUP line: this server (or the network)
            # went away, not the caller. The dialplan resumes the call; leave it open.
            _log.warn("call {uniqueid}: AGI session cut; left for resume", uniqueid=uniqueid)
            raise
        if isinstance(hung_up, ChannelRedirected) or await _redirected(channel):
            # A transfer moved the caller; the transfer's own session carries on.
            _log.info("call {uniqueid} was redirected", uniqueid=uniqueid)
            return
        await close_leg(ctx, where, where.abandoned_state(), cause="caller hung up")
        await _mark_done(channel)
        raise
    except Exception as error:
        await _flow_failed(channel, ctx, where, error)
        raise


async def _flow_failed(
    channel: AGIChannel, ctx: FlowContext, where: Where, error: Exception
) -> None:
    """The final state of a call whose flow broke (see :func:`drive`)."""
    uniqueid = channel.request.uniqueid
    if ctx.stopping():
        _log.warn(
            "call {uniqueid}: flow ended by the shutdown ({error}); left for resume",
            uniqueid=uniqueid,
            error=repr(error),
        )
        return
    if channel.hung_up and await _redirected(channel):
        # Moved by a transfer while something failed here: the transfer's session owns it.
        _log.info("call {uniqueid} was redirected", uniqueid=uniqueid)
        return
    _log.error("call {uniqueid}: flow failed: {error}", uniqueid=uniqueid, error=repr(error))
    # The stored cause is short (64 characters): a command error's own message, not the
    # command line with its long file path.
    cause = f"{type(error).__name__}: {getattr(error, 'message', error)}"
    if where.phase == "done":
        return  # the call had its final state before the failure
    talking = where.phase == "talking"
    where.phase = "done"
    try:
        if talking:  # the conversation took place; what broke came after it
            await ctx.db.run(
                calls.close_call, where.call_id, CallState.ANSWERED, ctx.now(), cause=cause
            )
        else:
            await ctx.db.run(calls.fail_to_fallback, where.call_id, ctx.now(), cause)
    except Exception as db_error:  # the database itself may be what failed
        _log.error(
            "call {uniqueid}: could not record its failure: {db_error}",
            uniqueid=uniqueid,
            db_error=str(db_error).splitlines()[0] if str(db_error) else repr(db_error),
        )
        if isinstance(db_error, UNREACHABLE):  # the journal keeps it until the database is back
            state = CallState.ANSWERED if talking else CallState.FALLBACK
            ctx.journal.ended(CallEnd(uniqueid, state.value, ctx.now(), cause))
        return
    # The channel may be what failed, so telling the dialplan is best effort: a resume
    # session that finds the call in ``fallback`` hands it on the same way.
    try:
        if talking:
            await finish_session(channel)
        else:
            await hand_to_fallback(channel)
    except Exception:
        pass


async def _redirected(channel: AGIChannel) -> bool:
    """Was the channel moved by an AMI Redirect rather than hung up (redirect-001)?"""
    return await channel.hangup_kind() is HangupKind.REDIRECTED


async def answered(channel: AGIChannel, ctx: FlowContext) -> None:
    """The agent picked up: the exact moment of answer (decision 1)."""
    args = channel.request.args
    try:
        attempt_id = int(args[1])
    except (IndexError, ValueError):
        _log.error("answered: bad arguments {args!r}", args=args)
        return
    await ctx.db.run(calls.answered, attempt_id, ctx.now())


# --------------------------------------------------------------------------- IVR


async def _ivr(
    channel: AGIChannel, ctx: FlowContext, where: Where, menu_code: str | None
) -> str | None:
    """Walk the menus until a queue is chosen (R-1.1); None when the caller chose nothing."""
    visits = 0
    while menu_code is not None and visits < MAX_MENU_VISITS:
        visits += 1
        loaded = await ctx.db.run(routing.load_menu, menu_code)
        if loaded is None:
            _log.error("IVR menu {code} is missing", code=menu_code)
            return None
        menu_id, menu = loaded
        attempt = 0
        while True:
            # Any key ends the prompt, so a wrong key is heard and counted too.
            pressed = await channel.stream_file(menu.prompt, ALL_KEYS)
            if pressed is None:
                pressed = await channel.wait_for_digit(menu.timeout_s * 1000) or ""
            outcome, nxt = step(menu, pressed, attempt)
            await ctx.db.run(
                calls.record_ivr_key, where.call_id, menu_id, pressed, outcome.value, ctx.now()
            )
            if isinstance(nxt, Retry):
                if nxt.play_invalid:
                    await channel.stream_file(menu.invalid_prompt)
                attempt += 1
                continue
            break
        if isinstance(nxt, ToQueue):
            return nxt.queue_code
        if isinstance(nxt, GiveUp):
            return None
        assert isinstance(nxt, ToMenu)
        menu_code = nxt.menu_code
    return None


async def _queue_of_resumed(ctx: FlowContext, call: calls.CallView) -> routing.QueueConfig | None:
    """The queue a resumed call was in; None if it was not in one yet (the IVR starts over)."""
    if call.queue_id is None or call.state == CallState.IVR.value:
        return None
    return await ctx.db.run(
        routing.load_queue, time_zone=ctx.settings.time_zone, queue_id=call.queue_id
    )


# --------------------------------------------------------------------------- queue


async def serve_queue(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    queue_code: str,
    *,
    resumed: bool,
    key: str | None = None,
    cfg: routing.QueueConfig | None = None,
) -> None:
    """The queue part of a call: business hours (R-1.10), support turns (R-1.11), or waiting
    and offers (R-1.2 .. R-1.9). ``key``: a # or 0 the caller pressed while the server that
    drove the call was away (a resumed call goes to that box at once). ``cfg``: the queue's
    configuration when the caller's way here read it already."""
    if cfg is None:
        cfg = await ctx.db.read(
            routing.load_queue, time_zone=ctx.settings.time_zone, code=queue_code
        )
    if cfg is None:
        _log.error("queue {code} is missing", code=queue_code)
        await close_leg(ctx, where, CallState.FAILED, cause=f"no queue {queue_code}")
        await finish_session(channel)
        return
    where.queue = cfg.code
    now = ctx.now()
    if key is None and cfg.support_turns:
        logged_in = await ctx.db.run(routing.logged_in_agent_ids)
        route = route_for(
            cfg.support_turns,
            cfg.schedule.local(now),
            logged_in,
            closed_day=cfg.schedule.closed_day(now),
            voicemail_rule=cfg.schedule.rule_action(now) is ClosedAction.VOICEMAIL,
        )
        if route is TurnRoute.ROTA:
            await _support_turn(channel, ctx, where, cfg)
            return
        if route is TurnRoute.CLOSED:
            await _after_hours(channel, ctx, where, cfg)
            return
    elif key is None and not cfg.schedule.is_open(now):
        await _after_hours(channel, ctx, where, cfg)
        return
    await wait_and_offer(channel, ctx, where, cfg, resumed=resumed, key=key)


async def wait_and_offer(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    cfg: routing.QueueConfig,
    *,
    resumed: bool,
    key: str | None = None,
) -> None:
    # The leg's recording row is made as the call enters the queue (one transaction, issue
    # 12), MixMonitor started right after; a resumed call looks for its running recorder first.
    planned = None
    if cfg.recording_enabled and where.recording is None and not resumed and key is None:
        planned = LegRecording(_leg_path(ctx, channel, where), ctx.now())
    view = await ctx.db.run(
        calls.enter_queue,
        where.call_id,
        cfg.id,
        planned.started_at if planned is not None else ctx.now(),
        keep_waiting_start=resumed,
        recording_path=planned.path if planned is not None else "",
    )
    if view.state != CallState.WAITING.value:
        await finish_session(channel)
        return
    ctx.offers.forget()  # a new caller in the queue: plan afresh, so a free agent rings now
    where.phase = "queue"
    status = esc.CallStatus(
        phase=esc.Phase.WAITING,
        waiting_since=view.queue_entered_at or ctx.now(),
        overflowed=view.overflowed,
    )
    if key is not None:  # pressed while no server listened: straight to that box
        status, effects = esc.transition(status, esc.KeyPressed(key), cfg.policy, ctx.now())
        if effects:
            await _apply(channel, ctx, where, cfg, effects)
            return
    await channel.set_variable(EXIT_CONTEXT_VARIABLE, ctx.settings.exit_context)
    if planned is not None:
        await _mixmonitor(channel, ctx, planned.path)
        where.recording = planned
    else:
        await _start_recording(channel, ctx, where, cfg, resumed=resumed)
    await _music_on(channel, where, cfg)
    # A ring whose end could not be written (the database went down): the call is put back
    # in the queue, keeping its waiting start, as soon as the database answers again.
    requeue = False
    while True:
        if requeue:
            try:
                await ctx.db.run(
                    calls.enter_queue, where.call_id, cfg.id, ctx.now(), keep_waiting_start=True
                )
                requeue = False
                ctx.offers.forget()
            except UNREACHABLE as exc:
                _db_unavailable(channel, exc)
                digit = await channel.wait_for_digit(ctx.settings.poll_ms)
                if digit is None:
                    continue
                status, effects = esc.transition(
                    status, esc.KeyPressed(digit), cfg.policy, ctx.now()
                )
                if effects:
                    await _music_off(channel, where)
                    await _apply(channel, ctx, where, cfg, effects)
                    return
                continue
        ticked, effects = esc.transition(status, esc.Tick(), cfg.policy, ctx.now())
        try:
            digit = await _apply(channel, ctx, where, cfg, effects)
        except UNREACHABLE as exc:
            # The database is down: the caller keeps the music and can still press #
            # or 0 (the spool takes those); the same tick comes again at the next poll.
            _db_unavailable(channel, exc)
            await _music_on(channel, where, cfg)
            digit = await channel.wait_for_digit(ctx.settings.poll_ms)
            if digit is None:
                continue
        else:
            status = ticked
        if digit is None:
            offer = await _offer_next(ctx, where)
            if offer is not None:
                try:
                    status, digit = await _ring(channel, ctx, where, cfg, status, offer)
                except UNREACHABLE as exc:
                    if where.phase not in ("queue", "ringing"):
                        raise  # the conversation took place: not a waiting caller any more
                    # The ring (not yet started, or over) cannot be written: the caller waits
                    # on; ``status`` is still the one from before this offer.
                    _db_unavailable(channel, exc)
                    where.phase = "queue"
                    requeue = True
                    digit = None
                if status.phase is esc.Phase.ENDED:
                    return
                if digit is None:
                    await _music_on(channel, where, cfg)
                    continue
            else:
                digit = await channel.wait_for_digit(ctx.settings.poll_ms)
        if digit is None:
            continue
        status, effects = esc.transition(status, esc.KeyPressed(digit), cfg.policy, ctx.now())
        if effects:
            await _music_off(channel, where)
            await _apply(channel, ctx, where, cfg, effects)
            return


async def _music_on(channel: AGIChannel, where: Where, cfg: routing.QueueConfig) -> None:
    """Music on hold for the waiting caller (R-1.5), unless it plays already."""
    if not where.music:
        await channel.start_music_on_hold(cfg.moh_class)
        where.music = True


async def _music_off(channel: AGIChannel, where: Where) -> None:
    if where.music:
        where.music = False
        await channel.stop_music_on_hold()


def _db_unavailable(channel: AGIChannel, exc: Exception) -> None:
    _log.warn(
        "call {uniqueid}: database unavailable while waiting, retrying: {error}",
        uniqueid=channel.request.uniqueid,
        error=str(exc).splitlines()[0],
    )


async def _offer_next(ctx: FlowContext, where: Where) -> calls.OfferView | None:
    """The next offer, if any; while the database is down the caller keeps waiting (and can
    still press # or 0, which the spool takes) instead of being dropped."""
    try:
        return await ctx.offers.next_offer(where.call_id, ctx.now())
    except DatabaseError as exc:
        _log.warn(
            "call {call}: cannot look for an agent, database unavailable: {error}",
            call=where.call_id,
            error=str(exc).splitlines()[0],
        )
        return None


async def _dial(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    cfg: routing.QueueConfig,
    offer: calls.OfferView,
    dial_string: str,
) -> tuple[int, str]:
    """Ring ``dial_string`` for the queue's ring timeout with music (``m``), the caller's
    keys (``d``) and the answer hook (``U``, decision 1); Dial's result and DIALSTATUS.

    DIALSTATUS is emptied first: a session resumed after this server died reads it to learn
    how this very ring ended (issue 10, defect 3), never a stale value of an earlier one."""
    await channel.set_variable(DIAL_STATUS_VARIABLE, "")
    where.music = False  # Dial's own music replaces ours and stops with the ring
    options = (
        f"m({cfg.moh_class})dU({ctx.settings.answered_context}^{where.call_id}^{offer.attempt_id})"
    )
    result = await channel.exec_app("Dial", dial_string, cfg.policy.ring_timeout_s, options)
    if result in _KEY_CODES:
        return result, "CANCEL"
    return result, (await channel.get_variable(DIAL_STATUS_VARIABLE) or "").upper()


async def _ring(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    cfg: routing.QueueConfig,
    status: esc.CallStatus,
    offer: calls.OfferView,
) -> tuple[esc.CallStatus, str | None]:
    """Ring the offered agent for the ring timeout (R-1.3) and deal with how it ended."""
    status, effects = esc.transition(status, esc.Offered(offer.agent_id), cfg.policy, ctx.now())
    await _apply(channel, ctx, where, cfg, effects)
    where.phase = "ringing"
    result, dial_status = await _dial(channel, ctx, where, cfg, offer, offer.dial_string)
    if result in _KEY_CODES:
        # Caller pressed # or 0 while the agent rang (004). With a box behind the key the
        # state machine frees the agent and ends the call; without, the ring is just over.
        key = _KEY_CODES[result]
        _after, effects = esc.transition(status, esc.KeyPressed(key), cfg.policy, ctx.now())
        if effects:
            where.phase = "queue"
            return status, key
        status, effects = esc.transition(status, esc.RingCancelled(), cfg.policy, ctx.now())
        await _apply(channel, ctx, where, cfg, effects)
        where.phase = "queue"
        return status, None
    now = ctx.now()
    if dial_status == "ANSWER":
        # The conversation took place, whatever the database says now: never a waiting
        # caller again, and its end is the moment Dial returned (issue 11, item 1).
        where.phase = "talking"
        where.talk_ended_at = now
        # The answer was recorded (and the agent told, R-2.5) by calls.answered at the moment
        # of answer; here only the machine moves on.
        status, _ = esc.transition(status, esc.Answered(), cfg.policy, now)
        await _running_recording(channel, ctx, where, None)
        if await _redirected(channel):
            # The agent transferred the call: Dial ended because the caller's channel
            # was redirected out of the bridge; the transfer session takes the call over.
            await _when_written(
                ctx,
                where,
                lambda: _write_conversation(ctx, where, offer),
                "the conversation's answer and recording",
            )
            raise ChannelRedirected("transferred during the conversation")
        status, effects = esc.transition(status, esc.ConversationEnded(), cfg.policy, now)
        for effect in effects:  # the call's end, written with the answer and the recording
            if isinstance(effect, esc.CloseCall):
                await close_leg(ctx, where, effect.outcome, answer=offer)
            else:
                await _apply(channel, ctx, where, cfg, (effect,))
        where.phase = "done"
        await finish_session(channel)
        return status, None
    if dial_status == "CANCEL" or channel.hung_up:
        status, effects = esc.transition(status, esc.CallerHungUp(), cfg.policy, now)
        await _apply(channel, ctx, where, cfg, effects)  # tells the agent
        raise ChannelHungUp("caller hung up while the agent's phone rang")
    if dial_status == "BUSY":
        event: esc.Event = esc.AgentBusy()
    else:  # NOANSWER, CHANUNAVAIL, CONGESTION: the desk did not pick up; stop bouncing there
        someone = await ctx.db.read(calls.someone_free_for, where.call_id, ctx.now())
        event = esc.RangOut(someone_else_free=someone)
    status, effects = esc.transition(status, event, cfg.policy, now)
    await _apply(channel, ctx, where, cfg, effects)
    where.phase = "queue"
    return status, None


async def _write_conversation(
    ctx: FlowContext,
    where: Where,
    offer: calls.OfferView,
    *,
    state: CallState | None = None,
    cause: str = "",
) -> None:
    """The conversation that Dial reported over, in one transaction (issue 12): when the
    agent picked up (the answer hook stored it at that moment, decision 1; if the hook
    could not reach Hotline, the ring's start stands in for it, and the log says so), the
    leg's recording with its length (R-1.14) and, given ``state``, the call's end.

    Its length is from the answer to the moment Dial returned: Asterisk 22's ANSWEREDTIME
    is the caller channel's up time, IVR and waiting included, and empty after a redirect,
    not the talk time (issue 10, defect 6)."""
    recording = where.recording
    end = await ctx.db.run(
        calls.end_conversation,
        where.call_id,
        offer.attempt_id,
        offer.started_at,
        where.talk_ended_at or ctx.now(),
        recording_path=recording.path if recording is not None else "",
        recording_started_at=recording.started_at if recording is not None else None,
        state=state,
        cause=cause,
    )
    if end.hook_missed:
        _log.warn(
            "call {uniqueid}: the answer hook did not reach Hotline; answer time taken as the "
            "ring's start",
            uniqueid=where.uniqueid,
        )


async def _running_recording(
    channel: AGIChannel, ctx: FlowContext, where: Where, answered_at: datetime | None
) -> None:
    """A resumed session: the recorder the dead one started runs on the channel, and is
    this leg's recording (from ``answered_at``, else the answer)."""
    if where.recording is None:
        running = await channel.get_variable(MIXMONITOR_VARIABLE)
        if running:
            where.recording = LegRecording(_relative(ctx, running), answered_at)


async def _conversation_over(
    channel: AGIChannel, ctx: FlowContext, where: Where, answered_at: datetime
) -> None:
    """The conversation of a resumed call is over: its length is from the answer to now,
    which the recording of the leg gets (R-1.14; see :func:`_write_conversation`)."""
    talked_s = max(0, int(((where.talk_ended_at or ctx.now()) - answered_at).total_seconds()))
    await _running_recording(channel, ctx, where, answered_at)
    if where.recording is not None:
        recording = where.recording
        await ctx.db.run(
            calls.finish_recording,
            where.call_id,
            recording.path,
            recording.started_at or answered_at,
            talked_s,
        )


async def _apply(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    cfg: routing.QueueConfig,
    effects: tuple[esc.Effect, ...],
) -> str | None:
    """Carry out the state machine's effects; a key pressed during an announcement."""
    now = ctx.now()
    missed = any(isinstance(e, esc.PauseAgent) for e in effects)
    pressed: str | None = None
    for effect in effects:
        if isinstance(effect, esc.EndRing):
            await ctx.db.run(
                calls.end_live_ring,
                where.call_id,
                RingOutcome(effect.outcome),
                now,
                missed=missed,
                missed_pause_type_id=cfg.missed_call_pause_type_id,
            )
        elif isinstance(effect, esc.NotifyAgent):
            await ctx.db.run(
                calls.notify_agent,
                where.call_id,
                effect.agent_id,
                effect.notice.value,
                now,
                waiting_s=effect.waiting_s,
                box_name=effect.box_name,
                queue=cfg.name,
                from_queue=where.from_queue,
                by_agent=where.by_agent,
            )
        elif isinstance(effect, esc.MarkOverflowed):
            await ctx.db.run(calls.mark_overflowed, where.call_id, now)
        elif isinstance(effect, esc.AnnounceCallbackOption):
            await _music_off(channel, where)
            pressed = await channel.stream_file(ctx.settings.callback_offer_prompt, "#0")
            if pressed is None:  # a key goes on to its box: no music in between (defect 9)
                await _music_on(channel, where, cfg)
        elif isinstance(effect, esc.RecordVoicemail):
            assert cfg.voicemail_box is not None
            await _record_voicemail(channel, ctx, where, cfg.voicemail_box, cfg.country_prefix)
        elif isinstance(effect, esc.RegisterCallback):
            assert cfg.callback_box is not None
            await _register_callback(channel, ctx, where, cfg.callback_box, cfg.country_prefix)
        elif isinstance(effect, esc.CloseCall):
            await close_leg(ctx, where, effect.outcome)
    return pressed


async def _start_recording(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    cfg: routing.QueueConfig,
    *,
    resumed: bool,
) -> None:
    """MixMonitor the caller's leg; option b records only while bridged to an agent (R-1.14).

    A resumed call whose recorder still runs (Asterisk keeps it on the channel when the
    server that started it dies) keeps that one: a second MixMonitor on the same file would
    write it twice (issue 10, defect 5)."""
    if not cfg.recording_enabled or where.recording is not None:
        return
    if resumed:
        running = await channel.get_variable(MIXMONITOR_VARIABLE)
        if running:
            where.recording = LegRecording(_relative(ctx, running), ctx.now())
            await _note_recording(ctx, where)
            return
    name = where.recording_name or channel.request.uniqueid
    where.recording = await record_leg(channel, ctx, where.call_id, name, _day(ctx, where))


def _leg_path(ctx: FlowContext, channel: AGIChannel, where: Where) -> str:
    """The file of this leg's recording, relative to the recordings directory."""
    name = where.recording_name or channel.request.uniqueid
    return _dated_path("calls", _day(ctx, where), name) + ".wav"


async def _mixmonitor(channel: AGIChannel, ctx: FlowContext, relative: str) -> None:
    """MixMonitor the channel into ``relative``, recording only while bridged (option b,
    R-1.14)."""
    _make_dir((ctx.settings.recordings_dir / relative).parent)
    await channel.exec_app("MixMonitor", str(ctx.settings.recordings_dir / relative), "b")


async def record_leg(
    channel: AGIChannel, ctx: FlowContext, call_id: int, name: str, day: datetime
) -> LegRecording:
    """Start MixMonitor on the channel into ``name``.wav filed under ``day``, recording only
    while bridged (option b, R-1.14), and give the call its recording row at once, so that a
    server that dies mid-conversation loses no recording (issue 10, defect 4)."""
    relative = _dated_path("calls", day, name) + ".wav"
    await _mixmonitor(channel, ctx, relative)
    recording = LegRecording(relative, ctx.now())
    try:
        await ctx.db.run(calls.start_recording, call_id, relative, recording.started_at)
    except DatabaseError as exc:  # the row is made at the end of the conversation then
        _log.warn(
            "call {call}: recording {path} not noted yet, database unavailable: {error}",
            call=call_id,
            path=relative,
            error=str(exc).splitlines()[0],
        )
    return recording


async def _note_recording(ctx: FlowContext, where: Where) -> None:
    assert where.recording is not None
    recording = where.recording
    await ctx.db.run(
        calls.start_recording, where.call_id, recording.path, recording.started_at or ctx.now()
    )


def _relative(ctx: FlowContext, path: str) -> str:
    """A recorder's file (``MIXMONITOR_FILENAME``) relative to the recordings directory."""
    try:
        return str(Path(path).relative_to(ctx.settings.recordings_dir))
    except ValueError:
        return path


def _day(ctx: FlowContext, where: Where) -> datetime:
    return where.opened_at or ctx.now()


# --------------------------------------------------------------------------- boxes


def _make_dir(directory: Path) -> None:
    """RECORD FILE does not create folders: make the dated one (the recordings directory is
    shared with Asterisk, see asterisk-conf/README.md). A failure is logged; Asterisk then
    answers `writefile` and the flow goes on."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _log.error("cannot create {dir}: {error}", dir=str(directory), error=str(exc))


def _dated_path(kind: str, day: datetime, uniqueid: str) -> str:
    safe = "".join(ch for ch in uniqueid if ch.isalnum() or ch in ".-_") or "call"
    return f"{kind}/{day:%Y/%m/%d}/{safe}"


def _message_path(ctx: FlowContext, where: Where) -> str:
    """The one voicemail message a call can leave, by its uniqueid and the day it began:
    a resumed session finds what the caller recorded while the server was away."""
    return _dated_path("voicemail", _day(ctx, where), where.uniqueid) + ".wav"


async def _choose_box(ctx: FlowContext, where: Where, step: str) -> None:
    """Out of the queue the moment the caller chose a box (issue 10, defect 1). With the
    database down the caller is served all the same: the spool keeps the request."""
    where.phase = "box" if where.phase != "done" else where.phase
    try:
        await ctx.db.run(calls.choose_box, where.call_id, step, ctx.now())
    except DatabaseError as exc:
        _log.warn(
            "call {call}: box choice not written, database unavailable: {error}",
            call=where.call_id,
            error=str(exc).splitlines()[0],
        )


async def _record_voicemail(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    box: routing.BoxConfig,
    country_prefix: str,
) -> None:
    """Greeting, beep, record until # or silence or the box's maximum (R-1.7), then store.

    Many callers simply hang up when they have said their piece: the message is stored then
    too, never lost. Until it is stored it is a pending entry of the spool: if this server
    dies while the caller speaks, the message is taken in from its recording all the same
    (by the resumed session, or by the spool import once it is surely over).
    """
    await _choose_box(ctx, where, calls.BOX_VOICEMAIL)
    relative = _message_path(ctx, where)
    target = Path(ctx.settings.recordings_dir) / relative
    _make_dir(target.parent)
    caller = _caller(ctx, channel, country_prefix)
    # The greeting is short next to the margin; the recording is at most the box's maximum.
    complete_by = ctx.now() + timedelta(seconds=box.max_message_s + _PENDING_MARGIN_S)
    pending = caller.request("message", box.id, relative, None, complete_by)
    try:
        ctx.spool.put_pending(pending)
    except OSError as exc:
        _log.error("cannot keep a pending message in the spool: {error}", error=str(exc))
    await channel.stream_file(box.greeting_prompt)
    try:
        result = await channel.record_file(
            str(target.with_suffix("")),
            "wav",
            "#",
            box.max_message_s * 1000,
            silence_s=box.silence_s,
        )
    except ChannelHungUp:
        if channel.closed and not channel.hung_up:
            raise  # this server lost Asterisk, not the caller: the resume takes the message
        if not target.exists():  # gone before the beep ended: there is no message
            ctx.spool.remove_pending(pending.spool_key)
            await close_leg(
                ctx, where, CallState.ABANDONED_QUEUE, cause="caller hung up before the message"
            )
            raise
        await _store_message(ctx, caller, box.id, relative, None)
        await close_leg(ctx, where, CallState.VOICEMAIL, cause="caller hung up after the message")
        raise
    except AGICommandError as exc:
        # Asterisk could not write the recording (a full disk answers `writefile`) and
        # stopped. What the file holds is the caller's message, kept with their number so
        # the back office calls back; without a file, the flow's failure path takes over.
        _log.error(
            "call {uniqueid}: the message could not be recorded whole: {error}",
            uniqueid=where.uniqueid,
            error=str(exc),
        )
        if not target.exists():
            raise
        await _store_message(ctx, caller, box.id, relative, None)
        await close_leg(ctx, where, CallState.VOICEMAIL, cause="recording failed")
        await channel.stream_file(ctx.settings.message_saved_prompt)
        await finish_session(channel)
        return
    await _store_message(ctx, caller, box.id, relative, result.endpos // 8000)
    await close_leg(ctx, where, CallState.VOICEMAIL)
    await channel.stream_file(ctx.settings.message_saved_prompt)
    await finish_session(channel)


# After a box's maximum message length: how long a pending message may still be recording.
_PENDING_MARGIN_S = 120


async def _store_message(
    ctx: FlowContext, caller: Caller, box_id: int, relative: str, duration_s: int | None
) -> None:
    await take_message(
        ctx.db,
        ctx.spool,
        caller,
        box_id=box_id,
        recording_path=relative,
        duration_s=duration_s,
        on_new_item=ctx.on_new_item,
    )
    ctx.spool.remove_pending(caller.request("message", box_id).spool_key)


async def _message_recorded(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    box_id: int,
    country_prefix: str,
    seconds: int,
) -> None:
    """A resumed call whose caller recorded a message while the server was away: it is
    stored, the caller hears that it was (R-1.7; issue 10, defect 4)."""
    _log.warn(
        "call {uniqueid}: a message was recorded while its server was away; taken in",
        uniqueid=where.uniqueid,
    )
    where.phase = "box"
    caller = _caller(ctx, channel, country_prefix)
    await _store_message(ctx, caller, box_id, _message_path(ctx, where), seconds)
    await close_leg(ctx, where, CallState.VOICEMAIL)
    await channel.stream_file(ctx.settings.message_saved_prompt)
    await finish_session(channel)


async def _register_callback(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    box: routing.BoxConfig,
    country_prefix: str,
) -> None:
    """R-1.8: register the request, confirm, end the call."""
    await _choose_box(ctx, where, calls.BOX_CALLBACK)
    caller = _caller(ctx, channel, country_prefix)
    await take_callback_request(
        ctx.db, ctx.spool, caller, box_id=box.id, on_new_item=ctx.on_new_item
    )
    await close_leg(ctx, where, CallState.CALLBACK)  # before the prompt: a hang-up changes nothing
    await channel.stream_file(ctx.settings.callback_confirmed_prompt)
    await finish_session(channel)


def _caller(ctx: FlowContext, channel: AGIChannel, country_prefix: str) -> Caller:
    """The caller of a voicemail or callback request: their number in international digits
    for the customer match (R-2.6), completed with the queue's country prefix."""
    request = channel.request
    number = request.callerid if request.callerid not in ("", "unknown") else ""
    try:
        digits = normalise_number(number, country_prefix) if number else ""
    except ValueError:
        digits = ""
    return Caller(request.uniqueid, number, digits, ctx.now())


# --------------------------------------------------------------------------- closed, rota


async def _after_hours(
    channel: AGIChannel, ctx: FlowContext, where: Where, cfg: routing.QueueConfig
) -> None:
    """R-1.10: the opening hours and `0` for a callback, or straight to the voicemail box."""
    await ctx.db.run(calls.enter_queue, where.call_id, cfg.id, ctx.now(), keep_waiting_start=False)
    where.phase = "queue"
    action = cfg.schedule.action_when_closed(ctx.now())
    if action is ClosedAction.VOICEMAIL and cfg.voicemail_box is not None:
        await _record_voicemail(channel, ctx, where, cfg.voicemail_box, cfg.country_prefix)
        return
    escape = "0" if cfg.callback_box is not None else ""
    pressed = await channel.stream_file(cfg.hours_prompt, escape)
    if pressed is None and escape:  # the offer in words, then a moment to press 0
        pressed = await channel.stream_file(ctx.settings.closed_callback_prompt, escape)
        pressed = pressed or await channel.wait_for_digit(5000)
    if pressed == "0" and cfg.callback_box is not None:
        await _register_callback(channel, ctx, where, cfg.callback_box, cfg.country_prefix)
        return
    await close_leg(ctx, where, CallState.CLOSED, cause="outside business hours")
    await channel.stream_file(ctx.settings.goodbye_prompt)  # never a hang-up in silence
    await finish_session(channel)


async def _support_turn(
    channel: AGIChannel, ctx: FlowContext, where: Where, cfg: routing.QueueConfig
) -> None:
    """R-1.11: ring the rota's operators one by one, highest priority first, each for the
    queue's ring time; nobody -> voicemail or callback, else the call ends."""
    await ctx.db.run(calls.enter_queue, where.call_id, cfg.id, ctx.now(), keep_waiting_start=False)
    where.phase = "queue"
    await channel.set_variable(EXIT_CONTEXT_VARIABLE, ctx.settings.exit_context)
    # Every call leg is recorded, a support turn's too; option b keeps the file to
    # the conversation itself.
    await _start_recording(channel, ctx, where, cfg, resumed=False)
    local = cfg.schedule.local(ctx.now())
    for member in ring_order(cfg.support_turns, local):
        if member.agent_id is not None:
            dial = await ctx.db.run(routing.seat_dial_string, member.agent_id)
        else:
            number = normalise_number(member.external_number, cfg.country_prefix)
            dial = await trunk_dial_string(channel, number)
        if not dial:
            continue
        offer = await ctx.db.run(
            calls.direct_offer, where.call_id, member.agent_id, dial, ctx.now()
        )
        if offer is None:
            continue  # that agent is ringing with another call right now
        where.phase = "ringing"
        result, dial_status = await _dial(channel, ctx, where, cfg, offer, dial)
        if result in _KEY_CODES:
            await ctx.db.run(calls.end_offer, offer.attempt_id, RingOutcome.CANCELLED, ctx.now())
            where.phase = "queue"
            await _to_box_by_key(channel, ctx, where, cfg, _KEY_CODES[result])
            return
        if dial_status == "ANSWER":
            where.phase = "talking"
            where.talk_ended_at = ctx.now()
            await _running_recording(channel, ctx, where, None)
            await close_leg(ctx, where, CallState.ANSWERED, answer=offer)
            await finish_session(channel)
            return
        if dial_status == "CANCEL" or channel.hung_up:
            raise ChannelHungUp("caller hung up while a support-turn operator rang")
        outcome = _RING_OUTCOMES.get(dial_status, RingOutcome.FAILED)
        await ctx.db.run(calls.end_offer, offer.attempt_id, outcome, ctx.now())
        where.phase = "queue"
    if cfg.voicemail_box is not None:
        await _record_voicemail(channel, ctx, where, cfg.voicemail_box, cfg.country_prefix)
    elif cfg.callback_box is not None:
        await _register_callback(channel, ctx, where, cfg.callback_box, cfg.country_prefix)
    else:
        await close_leg(ctx, where, CallState.CLOSED, cause="nobody on the rota answered")
        await finish_session(channel)


async def _to_box_by_key(
    channel: AGIChannel, ctx: FlowContext, where: Where, cfg: routing.QueueConfig, key: str
) -> None:
    if key == "#" and cfg.voicemail_box is not None:
        await _record_voicemail(channel, ctx, where, cfg.voicemail_box, cfg.country_prefix)
    elif key == "0" and cfg.callback_box is not None:
        await _register_callback(channel, ctx, where, cfg.callback_box, cfg.country_prefix)
    else:
        await close_leg(ctx, where, CallState.CLOSED)
        await finish_session(channel)


# --------------------------------------------------------------------------- endings


async def close_leg(
    ctx: FlowContext,
    where: Where,
    state: CallState,
    *,
    cause: str = "",
    answer: calls.OfferView | None = None,
) -> None:
    """Give the call its final state, and say so in the log (one line per call: an admin
    follows a call across Asterisk's log and Hotline's by its uniqueid). With the database
    down the caller is still served to the end; the spooled request closes the call when it
    is imported. ``answer``: the ring the conversation that just ended was answered on,
    whose answer and recording are written with the end (:func:`_write_conversation`)."""
    talked = where.phase == "talking"
    where.phase = "done"
    if where.ended:
        return
    where.ended = True
    _log.info(
        "call {uniqueid} ended: {state} (DID {did}, queue {queue}){cause}",
        uniqueid=where.uniqueid,
        state=state.value,
        did=where.did or "-",
        queue=where.queue or "-",
        cause=f": {cause}" if cause else "",
    )
    when = where.talk_ended_at or ctx.now()
    end = CallEnd(where.uniqueid, state.value, when, cause)
    journalled = False

    async def write() -> None:
        nonlocal journalled
        try:
            if answer is not None:
                await _write_conversation(ctx, where, answer, state=state, cause=cause)
            else:
                await ctx.db.run(calls.close_call, where.call_id, state, when, cause=cause)
        except UNREACHABLE:
            if not journalled:  # kept on disk first: a server killed meanwhile loses nothing
                ctx.journal.ended(end)
                journalled = True
            raise
        if journalled:
            ctx.journal.forget(where.uniqueid)

    if talked:  # an answered call's end frees its agent: never dropped, only delayed
        await _when_written(ctx, where, write, "the conversation's end")
        return
    try:
        await write()
    except UNREACHABLE as exc:
        # The caller is not kept waiting for it: the end is written in the background once
        # the database is back, with its real time and state, not left for the janitor to
        # call a "fallback" (issue 11, item 6); the journal has it meanwhile (item 3).
        _log.warn(
            "call {call}: its end ({state}) is written when the database is back: {error}",
            call=where.call_id,
            state=state.value,
            error=str(exc).splitlines()[0],
        )
        later = _when_written(ctx, where, write, f"its end ({state.value})", tried=True)
        Deferred.fromCoroutine(later).addErrback(_not_written, where)
    except DatabaseError as exc:
        _log.warn(
            "call {call}: could not record its end ({state}): {error}",
            call=where.call_id,
            state=state.value,
            error=str(exc).splitlines()[0],
        )


def _not_written(failure: Failure, where: Where) -> None:
    _log.failure("call {call}: its end was never written", failure, call=where.call_id)


# How long an answered call's end keeps being retried while the database is down, and the
# longest pause between two tries.
_WRITE_RETRY_FOR_S = 3600.0
_WRITE_RETRY_MAX_PAUSE_S = 30.0


async def _when_written(
    ctx: FlowContext,
    where: Where,
    write: Callable[[], Awaitable[T]],
    what: str,
    *,
    tried: bool = False,
) -> T:
    """``write`` once the database takes it: what a call left (a conversation's answer,
    recording and end, which frees the agent; a caller's hang-up) is written late rather
    than lost or turned into a re-queue (issue 11, items 1 and 6). ``tried``: the first try
    failed already, so this one waits first. Gives up (raising) only when the server stops
    or after an hour; the janitor then closes the call."""
    pause, waited = 1.0, 0.0
    while True:
        if not tried:
            try:
                return await write()
            except UNREACHABLE as exc:
                if ctx.stopping() or waited >= _WRITE_RETRY_FOR_S:
                    raise
                _log.warn(
                    "call {uniqueid}: {what} is written when the database is back: {error}",
                    uniqueid=where.uniqueid,
                    what=what,
                    error=str(exc).splitlines()[0],
                )
        tried = False
        await _pause(ctx, pause)
        waited += pause
        pause = min(pause * 2, _WRITE_RETRY_MAX_PAUSE_S)


def _pause(ctx: FlowContext, seconds: float) -> Deferred[None]:
    paused: Deferred[None] = Deferred()
    ctx.clock.callLater(seconds, paused.callback, None)
    return paused


async def hand_to_fallback(channel: AGIChannel) -> None:
    """Tell the dialplan to give the caller to its plain fallback destination (a ring
    group, then Asterisk's voicemail: [hotline-fallback]) once this session ends."""
    if channel.hung_up:
        return
    await channel.set_variable(DONE_VARIABLE, TO_FALLBACK)


async def _mark_done(channel: AGIChannel) -> None:
    """After the caller hung up: tell the dialplan's hang-up handler ([hotline-hangup])
    that this call needs no resume. Asterisk still takes SET VARIABLE on a hung-up
    channel; if even that fails, the handler's resume finds the call closed."""
    try:
        await channel.set_variable(DONE_VARIABLE, DONE)
    except Exception:
        pass


async def finish_session(channel: AGIChannel) -> None:
    """Tell the dialplan the call is dealt with (no resume), then hang up."""
    if channel.hung_up:
        await _mark_done(channel)  # no resume from the hang-up handler either
        return
    await channel.set_variable(DONE_VARIABLE, DONE)
    await channel.hangup()
