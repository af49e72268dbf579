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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from twisted.logger import Logger

from callbacks.intake import take_callback_request
from db.errors import UNREACHABLE, DatabaseError
from dialplan import channel_vars
from dialplan import escalation as esc
from dialplan.channel_vars import DONE, DONE_VARIABLE, EXIT_CONTEXT_VARIABLE, TO_FALLBACK
from dialplan.flows.context import FlowContext
from dialplan.menu import MAX_MENU_VISITS, GiveUp, Retry, ToMenu, ToQueue, step
from dialplan.store import calls, routing
from dialplan.support_turns import ring_order, rota_applies
from domain.enums import FINAL_STATES, CallState, ClosedAction, Direction, RingOutcome
from domain.numbers import normalise_number
from fastagi.channel import AGIChannel, HangupKind
from fastagi.errors import ChannelHungUp, ChannelRedirected
from voicemail.intake import Caller, take_message

_log = Logger()

ALL_KEYS = "0123456789*#"
# The database cannot be reached (db.errors.UNREACHABLE): a waiting caller rides it out.
# Other database errors (a constraint, a bug) fail the call (see :func:`drive`).
# Dial's result when the caller pressed a key listed in option d (transcript 004).
_KEY_CODES = {35: "#", 48: "0"}


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
    if existing is not None and existing.state == CallState.TALKING.value:
        # The conversation ran in Asterisk while this server was away; it is over now.
        await ctx.db.run(calls.close_call, existing.id, CallState.ANSWERED, now)
        await finish_session(channel)
        return
    call = await ctx.db.run(
        calls.open_call,
        uniqueid=request.uniqueid,
        linkedid=request.env.get("agi_linkedid", ""),
        direction=Direction.INBOUND,
        now=now,
        did=did,
        caller_number=request.callerid if request.callerid != "unknown" else "",
        caller_name=request.calleridname if request.calleridname != "unknown" else "",
        driven_by=ctx.node,
        channel=request.channel,
    )
    where = Where(call.id)

    async def serve() -> None:
        if not resume:
            await channel.answer()
        queue_code = await _queue_of_resumed(ctx, existing) if existing else None
        if queue_code is None:
            target = await ctx.db.run(routing.did_target, did)
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
        await serve_queue(channel, ctx, where, queue_code, resumed=existing is not None)

    await drive(channel, ctx, where, serve)


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


async def _queue_of_resumed(ctx: FlowContext, call: calls.CallView) -> str | None:
    """The queue a resumed call was in; the IVR starts over if it was not in one yet."""
    if call.queue_id is None or call.state == CallState.IVR.value:
        return None
    cfg = await ctx.db.run(
        routing.load_queue, time_zone=ctx.settings.time_zone, queue_id=call.queue_id
    )
    return None if cfg is None else cfg.code


# --------------------------------------------------------------------------- queue


async def serve_queue(
    channel: AGIChannel, ctx: FlowContext, where: Where, queue_code: str, *, resumed: bool
) -> None:
    """The queue part of a call: business hours (R-1.10), support turns (R-1.11), or waiting
    and offers (R-1.2 .. R-1.9)."""
    cfg = await ctx.db.run(routing.load_queue, time_zone=ctx.settings.time_zone, code=queue_code)
    if cfg is None:
        _log.error("queue {code} is missing", code=queue_code)
        await close_leg(ctx, where, CallState.FAILED, cause=f"no queue {queue_code}")
        await finish_session(channel)
        return
    now = ctx.now()
    if cfg.support_turns:
        logged_in = await ctx.db.run(routing.logged_in_agent_ids)
        local = cfg.schedule.local(now)
        if rota_applies(cfg.support_turns, local, logged_in):
            await _support_turn(channel, ctx, where, cfg)
            return
    elif not cfg.schedule.is_open(now):
        await _after_hours(channel, ctx, where, cfg)
        return
    await wait_and_offer(channel, ctx, where, cfg, resumed=resumed)


async def wait_and_offer(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    cfg: routing.QueueConfig,
    *,
    resumed: bool,
) -> None:
    view = await ctx.db.run(
        calls.enter_queue, where.call_id, cfg.id, ctx.now(), keep_waiting_start=resumed
    )
    if view.state != CallState.WAITING.value:
        await finish_session(channel)
        return
    where.phase = "queue"
    status = esc.CallStatus(
        phase=esc.Phase.WAITING,
        waiting_since=view.queue_entered_at or ctx.now(),
        overflowed=view.overflowed,
    )
    await channel.set_variable(EXIT_CONTEXT_VARIABLE, ctx.settings.exit_context)
    recording = await _start_recording(channel, ctx, where, cfg)
    await channel.start_music_on_hold(cfg.moh_class)
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
            except UNREACHABLE as exc:
                _db_unavailable(channel, exc)
                digit = await channel.wait_for_digit(ctx.settings.poll_ms)
                if digit is None:
                    continue
                status, effects = esc.transition(
                    status, esc.KeyPressed(digit), cfg.policy, ctx.now()
                )
                if effects:
                    await channel.stop_music_on_hold()
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
            digit = await channel.wait_for_digit(ctx.settings.poll_ms)
            if digit is None:
                continue
        else:
            status = ticked
        if digit is None:
            offer = await _offer_next(ctx, where)
            if offer is not None:
                try:
                    status, digit = await _ring(channel, ctx, where, cfg, status, offer, recording)
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
                    await channel.start_music_on_hold(cfg.moh_class)
                    continue
            else:
                digit = await channel.wait_for_digit(ctx.settings.poll_ms)
        if digit is None:
            continue
        status, effects = esc.transition(status, esc.KeyPressed(digit), cfg.policy, ctx.now())
        if effects:
            await channel.stop_music_on_hold()
            await _apply(channel, ctx, where, cfg, effects)
            return


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
        return await ctx.db.run(calls.offer_next, where.call_id, ctx.now())
    except DatabaseError as exc:
        _log.warn(
            "call {call}: cannot look for an agent, database unavailable: {error}",
            call=where.call_id,
            error=str(exc).splitlines()[0],
        )
        return None


async def _ring(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    cfg: routing.QueueConfig,
    status: esc.CallStatus,
    offer: calls.OfferView,
    recording: tuple[str, datetime] | None,
) -> tuple[esc.CallStatus, str | None]:
    """Ring the offered agent for the ring timeout (R-1.3) and deal with how it ended."""
    status, effects = esc.transition(status, esc.Offered(offer.agent_id), cfg.policy, ctx.now())
    await _apply(channel, ctx, where, cfg, effects)
    where.phase = "ringing"
    options = (
        f"m({cfg.moh_class})dU({ctx.settings.answered_context}^{where.call_id}^{offer.attempt_id})"
    )
    result = await channel.exec_app("Dial", offer.dial_string, cfg.policy.ring_timeout_s, options)
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
    dial_status = (await channel.get_variable("DIALSTATUS") or "").upper()
    now = ctx.now()
    if dial_status == "ANSWER":
        view = await ctx.db.run(calls.get_call, where.call_id)
        if view.answered_at is None:  # the U() session did not reach us: answer by Dial's word
            await ctx.db.run(calls.answered, offer.attempt_id, now)
        # The answer was recorded (and the agent told, R-2.5) by calls.answered at the moment
        # of answer; here only the machine moves on.
        status, _ = esc.transition(status, esc.Answered(), cfg.policy, now)
        where.phase = "talking"
        talked_s = int(await channel.get_variable("ANSWEREDTIME") or 0)
        if recording is not None:
            path, started = recording
            await ctx.db.run(calls.add_recording, where.call_id, path, started, talked_s)
        if await _redirected(channel):
            # The agent transferred the call: Dial ended because the caller's channel
            # was redirected out of the bridge; the transfer session takes the call over.
            raise ChannelRedirected("transferred during the conversation")
        status, effects = esc.transition(status, esc.ConversationEnded(), cfg.policy, now)
        await _apply(channel, ctx, where, cfg, effects)
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
        someone = await ctx.db.run(calls.someone_free_for, where.call_id, ctx.now())
        event = esc.RangOut(someone_else_free=someone)
    status, effects = esc.transition(status, event, cfg.policy, now)
    await _apply(channel, ctx, where, cfg, effects)
    where.phase = "queue"
    return status, None


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
            await channel.stop_music_on_hold()
            pressed = await channel.stream_file(ctx.settings.callback_offer_prompt, "#0")
            await channel.start_music_on_hold(cfg.moh_class)
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
    channel: AGIChannel, ctx: FlowContext, where: Where, cfg: routing.QueueConfig
) -> tuple[str, datetime] | None:
    """MixMonitor the caller's leg; option b records only while bridged to an agent (R-1.14)."""
    if not cfg.recording_enabled:
        return None
    return await record_leg(channel, ctx, where.recording_name or channel.request.uniqueid)


async def record_leg(channel: AGIChannel, ctx: FlowContext, name: str) -> tuple[str, datetime]:
    """Start MixMonitor on the channel into a dated file ``name``.wav, recording only while
    bridged (option b, R-1.14); (path relative to the recordings directory, start)."""
    now = ctx.now()
    relative = _dated_path("calls", now, name) + ".wav"
    _make_dir((ctx.settings.recordings_dir / relative).parent)
    await channel.exec_app("MixMonitor", str(ctx.settings.recordings_dir / relative), "b")
    return relative, now


# --------------------------------------------------------------------------- boxes


def _make_dir(directory: Path) -> None:
    """RECORD FILE does not create folders: make the dated one (the recordings directory is
    shared with Asterisk, see asterisk-conf/README.md). A failure is logged; Asterisk then
    answers `writefile` and the flow goes on."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _log.error("cannot create {dir}: {error}", dir=str(directory), error=str(exc))


def _dated_path(kind: str, now: datetime, uniqueid: str) -> str:
    safe = "".join(ch for ch in uniqueid if ch.isalnum() or ch in ".-_") or "call"
    return f"{kind}/{now:%Y/%m/%d}/{safe}"


async def _record_voicemail(
    channel: AGIChannel,
    ctx: FlowContext,
    where: Where,
    box: routing.BoxConfig,
    country_prefix: str,
) -> None:
    """Greeting, beep, record until # or silence or the box's maximum (R-1.7), then store.

    Many callers simply hang up when they have said their piece: the message is stored then
    too, never lost.
    """
    now = ctx.now()
    relative = _dated_path("voicemail", now, channel.request.uniqueid)
    target = Path(ctx.settings.recordings_dir) / relative
    _make_dir(target.parent)
    await channel.stream_file(box.greeting_prompt)

    async def store(duration_s: int | None) -> None:
        caller = _caller(ctx, channel, country_prefix)
        await take_message(
            ctx.db,
            ctx.spool,
            caller,
            box_id=box.id,
            recording_path=relative + ".wav",
            duration_s=duration_s,
            on_new_item=ctx.on_new_item,
        )

    try:
        result = await channel.record_file(
            str(target), "wav", "#", box.max_message_s * 1000, silence_s=box.silence_s
        )
    except ChannelHungUp:
        await store(None)
        await close_leg(ctx, where, CallState.VOICEMAIL, cause="caller hung up after the message")
        raise
    await store(result.endpos // 8000)
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
        await close_leg(ctx, where, CallState.VOICEMAIL)
        return
    escape = "0" if cfg.callback_box is not None else ""
    pressed = await channel.stream_file(cfg.hours_prompt, escape)
    if pressed is None and escape:
        pressed = await channel.wait_for_digit(5000)
    if pressed == "0" and cfg.callback_box is not None:
        await _register_callback(channel, ctx, where, cfg.callback_box, cfg.country_prefix)
        await close_leg(ctx, where, CallState.CALLBACK)
        return
    await close_leg(ctx, where, CallState.CLOSED, cause="outside business hours")
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
    recording = await _start_recording(channel, ctx, where, cfg)
    local = cfg.schedule.local(ctx.now())
    for member in ring_order(cfg.support_turns, local):
        if member.agent_id is not None:
            dial = await ctx.db.run(routing.seat_dial_string, member.agent_id)
        else:
            dial = ctx.settings.trunk_dial_template.format(
                number=normalise_number(member.external_number, cfg.country_prefix)
            )
        if not dial:
            continue
        offer = await ctx.db.run(
            calls.direct_offer, where.call_id, member.agent_id, dial, ctx.now()
        )
        if offer is None:
            continue  # that agent is ringing with another call right now
        where.phase = "ringing"
        options = (
            f"m({cfg.moh_class})d"
            f"U({ctx.settings.answered_context}^{where.call_id}^{offer.attempt_id})"
        )
        result = await channel.exec_app("Dial", dial, cfg.policy.ring_timeout_s, options)
        dial_status = (await channel.get_variable("DIALSTATUS") or "").upper()
        if result in _KEY_CODES:
            await ctx.db.run(calls.end_offer, offer.attempt_id, RingOutcome.CANCELLED, ctx.now())
            where.phase = "queue"
            await _to_box_by_key(channel, ctx, where, cfg, _KEY_CODES[result])
            return
        if dial_status == "ANSWER":
            view = await ctx.db.run(calls.get_call, where.call_id)
            if view.answered_at is None:
                await ctx.db.run(calls.answered, offer.attempt_id, ctx.now())
            where.phase = "talking"
            if recording is not None:
                talked_s = int(await channel.get_variable("ANSWEREDTIME") or 0)
                path, started = recording
                await ctx.db.run(calls.add_recording, where.call_id, path, started, talked_s)
            where.phase = "done"
            await close_leg(ctx, where, CallState.ANSWERED)
            await finish_session(channel)
            return
        if dial_status == "CANCEL" or channel.hung_up:
            raise ChannelHungUp("caller hung up while a support-turn operator rang")
        outcome = RingOutcome.BUSY if dial_status == "BUSY" else RingOutcome.NO_ANSWER
        await ctx.db.run(calls.end_offer, offer.attempt_id, outcome, ctx.now())
        where.phase = "queue"
    if cfg.voicemail_box is not None:
        await _record_voicemail(channel, ctx, where, cfg.voicemail_box, cfg.country_prefix)
        await close_leg(ctx, where, CallState.VOICEMAIL)
    elif cfg.callback_box is not None:
        await _register_callback(channel, ctx, where, cfg.callback_box, cfg.country_prefix)
        await close_leg(ctx, where, CallState.CALLBACK)
    else:
        await close_leg(ctx, where, CallState.CLOSED, cause="nobody on the rota answered")
        await finish_session(channel)


async def _to_box_by_key(
    channel: AGIChannel, ctx: FlowContext, where: Where, cfg: routing.QueueConfig, key: str
) -> None:
    if key == "#" and cfg.voicemail_box is not None:
        await _record_voicemail(channel, ctx, where, cfg.voicemail_box, cfg.country_prefix)
        await close_leg(ctx, where, CallState.VOICEMAIL)
    elif key == "0" and cfg.callback_box is not None:
        await _register_callback(channel, ctx, where, cfg.callback_box, cfg.country_prefix)
        await close_leg(ctx, where, CallState.CALLBACK)
    else:
        await close_leg(ctx, where, CallState.CLOSED)
        await finish_session(channel)


# --------------------------------------------------------------------------- endings


async def close_leg(ctx: FlowContext, where: Where, state: CallState, *, cause: str = "") -> None:
    """Give the call its final state. With the database down the caller is still served
    to the end; the spooled request closes the call when it is imported."""
    where.phase = "done"
    try:
        await ctx.db.run(calls.close_call, where.call_id, state, ctx.now(), cause=cause)
    except DatabaseError as exc:
        _log.warn(
            "call {call}: could not record its end ({state}), database unavailable: {error}",
            call=where.call_id,
            state=state.value,
            error=str(exc).splitlines()[0],
        )


async def hand_to_fallback(channel: AGIChannel) -> None:
    """Tell the dialplan to give the caller to its plain fallback destination (a ring
    group, then Asterisk's voicemail: [hotline-fallback]) once this session ends."""
    if channel.hung_up:
        return
    await channel.set_variable(DONE_VARIABLE, TO_FALLBACK)


async def finish_session(channel: AGIChannel) -> None:
    """Tell the dialplan the call is dealt with (no resume), then hang up."""
    if channel.hung_up:
        return
    await channel.set_variable(DONE_VARIABLE, DONE)
    await channel.hangup()
