"""Hotline's AMI client: one long-lived manager session to Asterisk over Twisted.

:class:`AMIClient` owns the connection: it connects through an injected endpoint, logs in
when the greeting arrives, correlates every action with its response by ``ActionID``,
assembles list actions (``EventList: start`` ... ``EventList: Complete``), hands events to
subscribers, and reconnects with capped exponential back-off on the injected clock. A
failed login stops it for good (:class:`AMIAuthError`): retrying a wrong secret would only
fill Asterisk's security log.

Typed actions for what Hotline does: :meth:`AMIClient.originate` (click-to-call, R-1.13),
:meth:`AMIClient.redirect` (transfer, R-1.12), :meth:`AMIClient.spy` (listen / whisper /
barge, R-4.7), ``hangup``, ``play_dtmf``, ``setvar``/``getvar``, ``core_show_channels``,
``ping``. All return Deferreds, so flows can ``await`` them.

Actions are never queued while disconnected: they fail at once with
:class:`AMINotConnectedError` (an Originate that runs half a minute late rings a phone
nobody is looking at any more), and actions in flight when the connection drops fail with
:class:`AMIConnectionLostError`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from typing import Protocol as TypingProtocol

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from ami.protocol import (
    AMIError,
    AMIGreeting,
    AMIMessage,
    AMIParser,
    AMIProtocolError,
    AMIValueError,
    Fields,
    format_action,
    format_message,
)
from domain.clock import Clock, DelayedCall

__all__ = [
    "SPY_OPTIONS",
    "AMIActionError",
    "AMIAuthError",
    "AMIClient",
    "AMIClientService",
    "AMIClientState",
    "AMIConnectionLostError",
    "AMIListResult",
    "AMINotConnectedError",
    "AMITimeoutError",
    "OriginateOutcome",
    "Originated",
    "ami_client",
    "connect_ami",
]

EventCallback = Callable[[AMIMessage], object]


class StreamEndpoint(TypingProtocol):
    """The part of ``IStreamClientEndpoint`` the client uses."""

    def connect(self, protocol_factory: Any, /) -> Deferred[Any]: ...


ConnectionCallback = Callable[[bool], object]

# ChanSpy options (Asterisk 22 docs, app_chanspy): q = no beep / no channel name spoken,
# w = whisper (the spy talks to the spied-on channel only), B = barge (talks to both parties),
# E = exit when the spied-on channel hangs up (else ChanSpy waits on for the next channel
# of the same prefix: the agent's next call, which nobody chose to listen to).
SPY_OPTIONS: dict[str, str] = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}

# OriginateResponse "Reason" values are Asterisk's AST_CONTROL_* codes.
ORIGINATE_REASONS: dict[int, str] = {
    0: "failed",
    1: "hung up",
    3: "no answer",
    4: "answered",
    5: "busy",
    8: "congestion",
}

# How long after start a refused connection is only logged as info (see _connect_failed).
STARTUP_GRACE_S = 5.0
_VARIABLE_NAME = re.compile(r"^[A-Za-z0-9_]+(\([^()\r\n,=]*\))?$")
_DTMF_DIGIT = re.compile(r"^[0-9*#A-Da-d]$")


class AMIActionError(AMIError):
    """Asterisk answered an action with ``Response: Error``."""

    def __init__(self, action: str, message: str, response: AMIMessage) -> None:
        super().__init__(f"AMI {action} failed: {message}")
        self.action = action
        self.message = message
        self.response = response


class AMIAuthError(AMIError):
    """Asterisk refused the username/secret; the client does not retry."""


class AMIConnectionLostError(AMIError):
    """The manager connection dropped before the action's answer arrived."""


class AMINotConnectedError(AMIConnectionLostError):
    """An action was sent while the client was not logged in."""


class AMITimeoutError(AMIError):
    """No answer arrived within the allowed time."""


class AMIClientState(enum.Enum):
    """Where the client's connection life cycle is."""

    STOPPED = "stopped"
    CONNECTING = "connecting"
    LOGGING_IN = "logging in"
    READY = "ready"
    WAITING_TO_RECONNECT = "waiting to reconnect"
    AUTH_FAILED = "authentication failed"


@dataclass(frozen=True)
class AMIListResult:
    """A list action's answer: the response, the item events, and the ``...Complete`` event."""

    response: AMIMessage
    events: tuple[AMIMessage, ...]
    complete: AMIMessage | None


@dataclass(frozen=True)
class OriginateOutcome:
    """What became of an originated call (from the ``OriginateResponse`` event)."""

    success: bool
    reason: int
    channel: str
    uniqueid: str | None
    event: AMIMessage | None

    @property
    def reason_text(self) -> str:
        """A readable name of :attr:`reason` ("answered", "busy", ...)."""
        return ORIGINATE_REASONS.get(self.reason, f"reason {self.reason}")


class _Shared:
    """A result that several callers may wait for, each with their own Deferred."""

    def __init__(self) -> None:
        self._done = False
        self._result: Any = None
        self._waiting: list[Deferred[Any]] = []

    @property
    def done(self) -> bool:
        return self._done

    def resolve(self, result: Any) -> None:
        if self._done:
            return
        self._done, self._result = True, result
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            self._fire(d)

    def wait(self) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        if self._done:
            self._fire(d)
        else:
            self._waiting.append(d)
        return d

    def _fire(self, d: Deferred[Any]) -> None:
        if isinstance(self._result, Failure):
            d.errback(self._result)
        else:
            d.callback(self._result)


class Originated:
    """An Originate Asterisk accepted: its ActionID, the response, and the call's outcome.

    ``outcome()`` may be called any number of times; each call returns a new Deferred that
    fires with an :class:`OriginateOutcome` when the ``OriginateResponse`` event with the
    same ActionID arrives (success or not: a busy phone is an outcome, not an error), and
    fails with :class:`AMIConnectionLostError` or :class:`AMITimeoutError`.
    """

    def __init__(self, action_id: str, response: AMIMessage, shared: _Shared) -> None:
        self.action_id = action_id
        self.response = response
        self._shared = shared

    def outcome(self) -> Deferred[OriginateOutcome]:
        """Wait for the call's :class:`OriginateOutcome`."""
        return self._shared.wait()


@dataclass
class _Pending:
    action: str
    deferred: Deferred[Any]
    timeout_call: DelayedCall | None
    is_list: bool
    response: AMIMessage | None = None
    events: list[AMIMessage] = field(default_factory=list)


@dataclass
class _OutcomeWaiter:
    shared: _Shared
    timeout_call: DelayedCall | None


class _AMIProtocol(Protocol):
    """Bytes in, messages out: the framing glue between a transport and :class:`AMIClient`."""

    log = Logger()

    def __init__(self, client: AMIClient) -> None:
        self._client = client
        self._parser = AMIParser(expect_greeting=True, max_message_bytes=client.max_message_bytes)
        self._broken = False

    def dataReceived(self, data: bytes) -> None:
        if self._broken:
            return
        try:
            items = self._parser.feed(data)
        except AMIProtocolError as exc:
            # Bad bytes must never raise out of the protocol: log, drop, let the client
            # reconnect to a stream it can trust.
            self._broken = True
            self.log.warn("AMI stream unusable, disconnecting: {error}", error=str(exc))
            self._transport().loseConnection()
            return
        for item in items:
            if self._broken:
                return
            try:
                if isinstance(item, AMIGreeting):
                    self._client._greeting_received(self, item)
                else:
                    self._client._message_received(self, item)
            except Exception:
                self.log.failure("AMI client failed to handle {item!r}", item=item)

    def _transport(self) -> Any:
        # ITransport is a zope interface; mypy (without the zope plugin) cannot check it.
        return cast(Any, self.transport)

    def send(self, data: bytes) -> None:
        self._transport().write(data)

    def disconnect(self) -> None:
        self._broken = True
        self._transport().loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._broken = True
        self._client._connection_lost(self, reason)


class _AMIProtocolFactory(Factory):
    noisy = False  # one connection per reconnect: the client logs what matters

    def __init__(self, client: AMIClient) -> None:
        self._client = client

    def buildProtocol(self, addr: object) -> _AMIProtocol:
        return _AMIProtocol(self._client)


class AMIClient:
    """A self-healing AMI session (see the module docstring).

    :param endpoint: where Asterisk's manager listens (``HostnameEndpoint`` in production,
        anything with ``connect(factory) -> Deferred[protocol]`` in tests).
    :param clock: schedules back-off, time-outs and keep-alives (the reactor, or ``Clock``).
    :param action_timeout_s: how long an action (and the greeting) may take to answer.
    :param reconnect_initial_s, reconnect_factor, reconnect_max_s: back-off after a lost or
        failed connection: initial, initial*factor, ... capped at max; reset after login.
    :param keepalive_interval_s: send a ``Ping`` this often while ready; a Ping that times
        out drops the connection (a half-open TCP session would otherwise look alive).
    :param action_id_prefix: ActionIDs are this prefix plus a counter that never restarts,
        so a late answer from an old connection can never match a new action.
    """

    log = Logger()

    def __init__(
        self,
        endpoint: StreamEndpoint,
        username: str,
        secret: str,
        clock: Clock,
        *,
        action_timeout_s: float = 10.0,
        reconnect_initial_s: float = 0.5,
        reconnect_factor: float = 2.0,
        reconnect_max_s: float = 30.0,
        keepalive_interval_s: float | None = None,
        action_id_prefix: str = "hotline-",
        max_message_bytes: int = 1024 * 1024,
    ) -> None:
        # A CR/LF in the credentials would otherwise only surface at the first login.
        format_message([("Username", username), ("Secret", secret)])
        self._endpoint = endpoint
        self._username = username
        self._secret = secret
        self._clock = clock
        self.action_timeout_s = action_timeout_s
        self.reconnect_initial_s = reconnect_initial_s
        self.reconnect_factor = reconnect_factor
        self.reconnect_max_s = reconnect_max_s
        self.keepalive_interval_s = keepalive_interval_s
        self.max_message_bytes = max_message_bytes
        self._action_id_prefix = action_id_prefix
        self._action_counter = 0

        self._state = AMIClientState.STOPPED
        self._protocol: _AMIProtocol | None = None
        self._connecting: Deferred[Any] | None = None
        self._reconnect_call: DelayedCall | None = None
        self._greeting_call: DelayedCall | None = None
        self._keepalive_call: DelayedCall | None = None
        self._attempt = 0
        self._started_at = 0.0
        self._stopping = False
        self._auth_error: AMIAuthError | None = None
        self._pending: dict[str, _Pending] = {}
        self._outcomes: dict[str, _OutcomeWaiter] = {}
        self._ready_waiters: list[Deferred[None]] = []
        self._stop_waiters: list[Deferred[None]] = []
        self._subscribers: dict[str, list[EventCallback]] = {}
        self._connection_listeners: list[ConnectionCallback] = []
        self.greeting: AMIGreeting | None = None

    # ------------------------------------------------------------------ life cycle

    @property
    def state(self) -> AMIClientState:
        """The current :class:`AMIClientState`."""
        return self._state

    @property
    def ready(self) -> bool:
        """True while logged in (actions can be sent)."""
        return self._state is AMIClientState.READY

    @property
    def next_reconnect_delay_s(self) -> float:
        """The delay the next reconnect attempt will wait."""
        delay = self.reconnect_initial_s * self.reconnect_factor**self._attempt
        return float(min(delay, self.reconnect_max_s))

    def start(self) -> None:
        """Connect and log in (again, after :meth:`stop` or a failed login)."""
        if self._state not in (AMIClientState.STOPPED, AMIClientState.AUTH_FAILED):
            return
        self._stopping = False
        self._auth_error = None
        self._attempt = 0
        self._started_at = self._clock.seconds()
        self._connect()

    def stop(self) -> Deferred[None]:
        """Stop reconnecting and close the connection; fires once it is closed."""
        self._stopping = True
        self._cancel_call("_reconnect_call")
        self._fail_ready_waiters(AMINotConnectedError("AMI client stopped"))
        if self._connecting is not None:
            connecting, self._connecting = self._connecting, None
            connecting.cancel()
        if self._protocol is None:
            if self._state is not AMIClientState.AUTH_FAILED:
                self._state = AMIClientState.STOPPED
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._stop_waiters.append(d)
        self._protocol.disconnect()
        return d

    def when_ready(self) -> Deferred[None]:
        """Fires when the client is logged in (at once if it is); fails on a refused login."""
        if self._state is AMIClientState.READY:
            return succeed(None)
        if self._state is AMIClientState.AUTH_FAILED and self._auth_error is not None:
            return fail(self._auth_error)
        if self._state is AMIClientState.STOPPED:
            return fail(AMINotConnectedError("AMI client is not started"))
        d: Deferred[None] = Deferred()
        self._ready_waiters.append(d)
        return d

    def _connect(self) -> None:
        self._reconnect_call = None
        self._state = AMIClientState.CONNECTING
        d = self._endpoint.connect(_AMIProtocolFactory(self))
        self._connecting = d
        d.addCallbacks(self._connected, self._connect_failed)

    def _connected(self, protocol: _AMIProtocol) -> None:
        self._connecting = None
        self._protocol = protocol
        if self._stopping:  # stop() raced with a connection that completed anyway
            protocol.disconnect()
            return
        self._state = AMIClientState.LOGGING_IN
        self.greeting = None
        self._greeting_call = self._clock.callLater(self.action_timeout_s, self._no_greeting)

    def _connect_failed(self, failure: Failure) -> None:
        self._connecting = None
        if failure.check(CancelledError) or self._stopping:
            self._state = AMIClientState.STOPPED
            return
        # Asterisk (or the demo's simulated switch) starting beside Hotline is not there
        # yet for the first moments: said quietly then, as a warning only when it lasts.
        if self._clock.seconds() - self._started_at < STARTUP_GRACE_S:
            self.log.info(
                "AMI not answering yet, still starting? Connecting again in {delay_s} s",
                delay_s=self.next_reconnect_delay_s,
            )
        else:
            self.log.warn(
                "AMI connection failed: {error}; retrying in {delay_s} s",
                error=failure.getErrorMessage(),
                delay_s=self.next_reconnect_delay_s,
            )
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        delay_s = self.next_reconnect_delay_s
        self._attempt += 1
        self._state = AMIClientState.WAITING_TO_RECONNECT
        self._reconnect_call = self._clock.callLater(delay_s, self._connect)

    def _no_greeting(self) -> None:
        self._greeting_call = None
        self.log.warn(
            "AMI server sent no greeting in {t} s; disconnecting", t=self.action_timeout_s
        )
        if self._protocol is not None:
            self._protocol.disconnect()

    def _greeting_received(self, protocol: _AMIProtocol, greeting: AMIGreeting) -> None:
        if protocol is not self._protocol:
            return
        self._cancel_call("_greeting_call")
        self.greeting = greeting
        login = self._send(
            "Login",
            [("Username", self._username), ("Secret", self._secret)],
            is_list=False,
            timeout_s=None,
            require_ready=False,
        )
        login.addCallbacks(self._login_accepted, self._login_refused, errbackArgs=(protocol,))

    def _login_accepted(self, _response: AMIMessage) -> None:
        self._state = AMIClientState.READY
        self._attempt = 0
        self._schedule_keepalive()
        # Listeners (resynchronising state) run before anyone awaiting when_ready() resumes.
        self._notify_connection(True)
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            d.callback(None)

    def _login_refused(self, failure: Failure, protocol: _AMIProtocol) -> None:
        if failure.check(AMIActionError):
            message = cast(AMIActionError, failure.value).message
            self._auth_error = AMIAuthError(
                f"AMI login as {self._username!r} refused: {message or 'no reason given'}"
            )
            self.log.error("{error}; not retrying", error=str(self._auth_error))
            self._state = AMIClientState.AUTH_FAILED
            self._fail_ready_waiters(self._auth_error)
            protocol.disconnect()
        elif failure.check(AMITimeoutError):
            self.log.warn("AMI login got no answer; disconnecting")
            protocol.disconnect()
        # AMIConnectionLostError: _connection_lost already schedules the reconnect.

    def _connection_lost(self, protocol: _AMIProtocol, reason: Failure) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = None
        self._cancel_call("_greeting_call")
        self._cancel_call("_keepalive_call")
        was_ready = self._state is AMIClientState.READY
        # Settle the state first: callbacks below (failed actions, listeners) run user code
        # that must already see "waiting to reconnect", not a stale "ready".
        if self._state is AMIClientState.AUTH_FAILED:
            pass
        elif self._stopping:
            self._state = AMIClientState.STOPPED
        else:
            self.log.warn(
                "AMI connection lost ({error}); reconnecting in {delay_s} s",
                error=reason.getErrorMessage(),
                delay_s=self.next_reconnect_delay_s,
            )
            self._schedule_reconnect()
        lost = AMIConnectionLostError(f"AMI connection lost: {reason.getErrorMessage()}")
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            self._cancel_delayed(entry.timeout_call)
            entry.deferred.errback(lost)
        outcomes, self._outcomes = self._outcomes, {}
        for waiter in outcomes.values():
            self._cancel_delayed(waiter.timeout_call)
            waiter.shared.resolve(Failure(lost))
        if was_ready:
            self._notify_connection(False)
        waiters, self._stop_waiters = self._stop_waiters, []
        for d in waiters:
            d.callback(None)

    def _fail_ready_waiters(self, error: Exception) -> None:
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            d.errback(error)

    def _schedule_keepalive(self) -> None:
        if self.keepalive_interval_s is not None:
            self._keepalive_call = self._clock.callLater(self.keepalive_interval_s, self._keepalive)

    def _keepalive(self) -> None:
        self._keepalive_call = None
        protocol = self._protocol
        if protocol is None or not self.ready:
            return

        def answered(_: AMIMessage) -> None:
            if protocol is self._protocol:
                self._schedule_keepalive()

        def unanswered(failure: Failure) -> None:
            if failure.check(AMITimeoutError) and protocol is self._protocol:
                self.log.warn("AMI Ping got no answer; dropping the connection")
                protocol.disconnect()

        self.ping().addCallbacks(answered, unanswered)

    def _cancel_call(self, attribute: str) -> None:
        call: DelayedCall | None = getattr(self, attribute)
        setattr(self, attribute, None)
        self._cancel_delayed(call)

    @staticmethod
    def _cancel_delayed(call: DelayedCall | None) -> None:
        if call is not None and call.active():
            call.cancel()

    # ------------------------------------------------------------------ events

    def subscribe(self, name: str, callback: EventCallback) -> None:
        """Call ``callback(message)`` for every event named ``name`` (any case), or ``"*"``.

        Items of list actions (``CoreShowChannel`` ...) go to the action, not here.
        An exception in a callback is logged and does not reach other subscribers.
        """
        self._subscribers.setdefault(name.lower(), []).append(callback)

    def unsubscribe(self, name: str, callback: EventCallback) -> None:
        """Undo one :meth:`subscribe` (no error if it was not subscribed)."""
        callbacks = self._subscribers.get(name.lower(), [])
        if callback in callbacks:
            callbacks.remove(callback)

    def on_connection(self, callback: ConnectionCallback) -> None:
        """Call ``callback(True)`` after every login and ``callback(False)`` when it is lost.

        Use it to resynchronise state (e.g. :meth:`core_show_channels`) after a reconnect:
        events that happened while disconnected are gone.
        """
        self._connection_listeners.append(callback)

    def _notify_connection(self, ready: bool) -> None:
        for callback in list(self._connection_listeners):
            try:
                callback(ready)
            except Exception:
                self.log.failure("AMI connection listener failed")

    def _message_received(self, protocol: _AMIProtocol, message: AMIMessage) -> None:
        if protocol is not self._protocol:
            return
        # Event first: OriginateResponse is an event that also carries "Response:".
        if message.event is not None:
            self._event_received(message)
        elif message.response is not None:
            self._response_received(message)
        else:
            self.log.debug("AMI message that is neither a response nor an event: {m!r}", m=message)

    def _response_received(self, message: AMIMessage) -> None:
        action_id = message.action_id
        entry = self._pending.get(action_id) if action_id is not None else None
        if entry is None or action_id is None:
            self.log.debug("AMI response for no pending action: {m!r}", m=message)
            return
        if (message.response or "").lower() == "error":
            del self._pending[action_id]
            self._cancel_delayed(entry.timeout_call)
            self._forget_outcome(action_id)
            error = AMIActionError(entry.action, message.get("Message", "") or "", message)
            entry.deferred.errback(error)
            return
        if entry.is_list and (message.get("EventList") or "").lower() == "start":
            entry.response = message
            return
        del self._pending[action_id]
        self._cancel_delayed(entry.timeout_call)
        if entry.is_list:
            entry.deferred.callback(AMIListResult(message, (), None))
        else:
            entry.deferred.callback(message)

    def _event_received(self, message: AMIMessage) -> None:
        action_id = message.action_id
        if action_id is not None:
            entry = self._pending.get(action_id)
            if entry is not None and entry.is_list and entry.response is not None:
                if (message.get("EventList") or "").lower() in ("complete", "cancelled"):
                    del self._pending[action_id]
                    self._cancel_delayed(entry.timeout_call)
                    result = AMIListResult(entry.response, tuple(entry.events), message)
                    entry.deferred.callback(result)
                else:
                    entry.events.append(message)
                return
            name = (message.event or "").lower()
            if name == "originateresponse" and action_id in self._outcomes:
                waiter = self._outcomes.pop(action_id)
                self._cancel_delayed(waiter.timeout_call)
                waiter.shared.resolve(_outcome_from_event(message))
        self._dispatch(message)

    def _dispatch(self, message: AMIMessage) -> None:
        name = (message.event or "").lower()
        callbacks = [*self._subscribers.get(name, []), *self._subscribers.get("*", [])]
        for callback in callbacks:
            try:
                callback(message)
            except Exception:
                self.log.failure("AMI event subscriber failed on {event}", event=message.event)

    # ------------------------------------------------------------------ actions

    def _next_action_id(self) -> str:
        self._action_counter += 1
        return f"{self._action_id_prefix}{self._action_counter}"

    def _send(
        self,
        action: str,
        fields: Fields,
        *,
        is_list: bool,
        timeout_s: float | None,
        require_ready: bool = True,
        action_id: str | None = None,
    ) -> Deferred[Any]:
        action_id = action_id or self._next_action_id()
        # Validate (CR/LF, NUL, keys) before anything else: a bad value is a programming
        # error that must surface even while disconnected, and nothing may be written.
        data = format_action(action, action_id, fields)
        protocol = self._protocol
        if protocol is None or (require_ready and not self.ready):
            return fail(AMINotConnectedError(f"AMI not connected; {action} not sent"))
        d: Deferred[Any] = Deferred()
        limit_s = self.action_timeout_s if timeout_s is None else timeout_s
        timeout_call = self._clock.callLater(limit_s, self._action_timed_out, action_id)
        self._pending[action_id] = _Pending(action, d, timeout_call, is_list)
        protocol.send(data)
        return d

    def _action_timed_out(self, action_id: str) -> None:
        entry = self._pending.pop(action_id, None)
        if entry is not None:
            self._forget_outcome(action_id)
            entry.deferred.errback(AMITimeoutError(f"AMI {entry.action} got no answer in time"))

    def _forget_outcome(self, action_id: str) -> None:
        waiter = self._outcomes.pop(action_id, None)
        if waiter is not None:
            self._cancel_delayed(waiter.timeout_call)

    def send_action(
        self, action: str, fields: Fields = (), *, timeout_s: float | None = None
    ) -> Deferred[AMIMessage]:
        """Send any action; fires with the ``Success`` response.

        Fails with :class:`AMIActionError` (``Response: Error``), :class:`AMITimeoutError`,
        :class:`AMIConnectionLostError` / :class:`AMINotConnectedError`; raises
        :class:`AMIValueError` at once for a value that cannot go on the wire.
        """
        return self._send(action, fields, is_list=False, timeout_s=timeout_s)

    def send_list_action(
        self, action: str, fields: Fields = (), *, timeout_s: float | None = None
    ) -> Deferred[AMIListResult]:
        """Send a list action and collect its events until ``EventList: Complete``."""
        return self._send(action, fields, is_list=True, timeout_s=timeout_s)

    def ping(self) -> Deferred[AMIMessage]:
        """``Action: Ping``; the response carries ``Ping: Pong`` and a ``Timestamp``."""
        return self.send_action("Ping")

    def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int = 1,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        timeout_ms: int = 30_000,
        async_: bool = True,
        account: str | None = None,
    ) -> Deferred[Originated]:
        """Place a call on ``channel`` (a dial string such as ``PJSIP/101``).

        When it answers it runs ``context``/``exten``/``priority`` or ``application(data)``.
        Fires with :class:`Originated` once Asterisk queued it; ``Originated.outcome()``
        then waits for the ``OriginateResponse``. ``variables`` become channel variables
        (one ``Variable:`` header each; they show up in ``VarSet`` events).
        """
        has_exten = context is not None or exten is not None
        if has_exten == (application is not None):
            raise AMIValueError("originate needs context+exten OR application, not both/neither")
        if has_exten and (context is None or exten is None):
            raise AMIValueError("originate to the dialplan needs both context and exten")
        if data is not None and application is None:
            raise AMIValueError("originate data is only meaningful with an application")
        if timeout_ms <= 0 or priority < 1:
            raise AMIValueError("originate timeout_ms must be > 0 and priority >= 1")
        fields: list[tuple[str, str]] = [("Channel", channel)]
        if application is not None:
            fields.append(("Application", application))
            if data is not None:
                fields.append(("Data", data))
        else:
            fields += [("Context", str(context)), ("Exten", str(exten))]
            fields.append(("Priority", str(priority)))
        fields.append(("Timeout", str(int(timeout_ms))))
        if caller_id is not None:
            fields.append(("CallerID", caller_id))
        if account is not None:
            fields.append(("Account", account))
        for name, value in (variables or {}).items():
            fields.append(("Variable", _variable(name, value)))
        fields.append(("Async", "true" if async_ else "false"))

        action_id = self._next_action_id()
        shared = _Shared()
        # Wait for the answer to the call, not just for "queued": a synchronous Originate
        # only answers once the call is up or failed.
        timeout_s = None if async_ else timeout_ms / 1000 + self.action_timeout_s
        d = self._send("Originate", fields, is_list=False, timeout_s=timeout_s, action_id=action_id)
        if async_ and not d.called:
            # Registered before any byte can arrive, so the event can never be missed.
            outcome_limit_s = timeout_ms / 1000 + self.action_timeout_s
            timeout_call = self._clock.callLater(
                outcome_limit_s, self._outcome_timed_out, action_id
            )
            self._outcomes[action_id] = _OutcomeWaiter(shared, timeout_call)

        def queued(response: AMIMessage) -> Originated:
            if not async_:
                shared.resolve(OriginateOutcome(True, 4, channel, None, None))
            return Originated(action_id, response, shared)

        return d.addCallback(queued)

    def _outcome_timed_out(self, action_id: str) -> None:
        waiter = self._outcomes.pop(action_id, None)
        if waiter is not None:
            waiter.shared.resolve(
                Failure(AMITimeoutError(f"no OriginateResponse for {action_id} in time"))
            )

    def redirect(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        extra_channel: str | None = None,
    ) -> Deferred[AMIMessage]:
        """Send ``channel`` (and ``extra_channel``, e.g. its bridged peer) to a new place.

        A channel inside AGI sees this as a hang-up of its session, then runs the new
        context (``redirect-001/-002`` transcripts).
        """
        fields = [("Channel", channel)]
        if extra_channel is not None:
            fields.append(("ExtraChannel", extra_channel))
        fields += [("Exten", exten), ("Context", context), ("Priority", str(priority))]
        if extra_channel is not None:
            fields += [
                ("ExtraExten", exten),
                ("ExtraContext", context),
                ("ExtraPriority", str(priority)),
            ]
        return self.send_action("Redirect", fields)

    def hangup(self, channel: str, cause: int = 16) -> Deferred[AMIMessage]:
        """Hang ``channel`` up with a Q.850 ``cause`` (16 = normal clearing)."""
        if channel.startswith("/"):
            # Asterisk treats "/.../" as a regular expression over ALL channels.
            raise AMIValueError(f"channel {channel!r} would be read as a regular expression")
        return self.send_action("Hangup", [("Channel", channel), ("Cause", str(int(cause)))])

    def play_dtmf(
        self, channel: str, digit: str, duration_ms: int | None = None
    ) -> Deferred[AMIMessage]:
        """Play one DTMF ``digit`` (0-9 * # A-D) on ``channel``."""
        if not _DTMF_DIGIT.match(digit):
            raise AMIValueError(f"not a DTMF digit: {digit!r}")
        fields = [("Channel", channel), ("Digit", digit)]
        if duration_ms is not None:
            fields.append(("Duration", str(int(duration_ms))))
        return self.send_action("PlayDTMF", fields)

    def setvar(self, channel: str, name: str, value: str) -> Deferred[AMIMessage]:
        """Set channel variable ``name`` to ``value`` on ``channel``."""
        _check_variable_name(name)
        return self.send_action(
            "Setvar", [("Channel", channel), ("Variable", name), ("Value", value)]
        )

    def getvar(self, channel: str, name: str) -> Deferred[str]:
        """The value of ``name`` on ``channel``; ``""`` when unset (AMI cannot tell apart)."""
        _check_variable_name(name)
        d = self.send_action("Getvar", [("Channel", channel), ("Variable", name)])
        return d.addCallback(lambda response: response.get("Value", "") or "")

    def core_show_channels(self) -> Deferred[list[AMIMessage]]:
        """Every channel Asterisk has now: the ``CoreShowChannel`` events, in order."""
        d = self.send_list_action("CoreShowChannels")
        return d.addCallback(lambda result: list(result.events))

    def spy(
        self,
        agent_channel_dial_string: str,
        target_channel: str,
        mode: Literal["listen", "whisper", "barge"],
        caller_id: str,
        *,
        timeout_ms: int = 30_000,
        variables: Mapping[str, str] | None = None,
    ) -> Deferred[Originated]:
        """Ring a supervisor's phone (``agent_channel_dial_string``) into ChanSpy (R-4.7).

        When it answers it listens to ``target_channel`` (``listen``), talks to the agent
        only (``whisper``), or to both parties (``barge``).
        """
        options = SPY_OPTIONS.get(mode)
        if options is None:
            raise AMIValueError(f"spy mode must be one of {sorted(SPY_OPTIONS)}, got {mode!r}")
        if not target_channel or "," in target_channel:
            # ChanSpy's first argument is a channel-name PREFIX and ',' separates arguments.
            # A full channel name (with its unique -0000002a suffix) matches only that one.
            raise AMIValueError(f"not a channel name for ChanSpy: {target_channel!r}")
        return self.originate(
            agent_channel_dial_string,
            application="ChanSpy",
            data=f"{target_channel},{options}",
            caller_id=caller_id,
            timeout_ms=timeout_ms,
            variables=variables,
        )


def _check_variable_name(name: str) -> None:
    if not _VARIABLE_NAME.match(name):
        raise AMIValueError(f"not a channel variable name: {name!r}")


def _variable(name: str, value: str) -> str:
    _check_variable_name(name)
    # Asterisk splits each Variable: header at commas and strips quotes and backslashes
    # (AST_STANDARD_APP_ARGS in manager.c): such a value would arrive changed or split.
    for bad in (",", '"', "\\"):
        if bad in value:
            raise AMIValueError(f"variable {name} value {value!r} contains {bad!r}")
    return f"{name}={value}"


def _outcome_from_event(event: AMIMessage) -> OriginateOutcome:
    try:
        reason = int(event.get("Reason", "0") or "0")
    except ValueError:
        reason = 0
    uniqueid = event.get("Uniqueid")
    return OriginateOutcome(
        success=(event.response or "").lower() == "success",
        reason=reason,
        channel=event.get("Channel", "") or "",
        uniqueid=None if uniqueid in (None, "", "<null>") else uniqueid,
        event=event,
    )


class AMIAccount(TypingProtocol):
    """What :func:`connect_ami` needs (``hotline.config.AmiUrl`` fits)."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def username(self) -> str: ...

    @property
    def secret(self) -> str: ...


def ami_client(
    reactor: Any,
    account: AMIAccount,
    clock: Clock | None = None,
    **options: Any,
) -> AMIClient:
    """An :class:`AMIClient` to ``account``, not started yet (:class:`AMIClientService`
    starts it with the process).

    ``options`` are passed to :class:`AMIClient` (defaults here: a 20 s keep-alive Ping).
    """
    endpoint = HostnameEndpoint(reactor, account.host, account.port, timeout=10)
    options.setdefault("keepalive_interval_s", 20.0)
    return AMIClient(endpoint, account.username, account.secret, clock or reactor, **options)


def connect_ami(
    reactor: Any,
    account: AMIAccount,
    clock: Clock | None = None,
    **options: Any,
) -> AMIClient:
    """An :class:`AMIClient` to ``account``, started (see :func:`ami_client`)."""
    client = ami_client(reactor, account, clock, **options)
    client.start()
    return client


class AMIClientService(Service):
    """Runs an :class:`AMIClient` as a Twisted service (started and stopped with the app)."""

    def __init__(self, client: AMIClient) -> None:
        self.client = client

    def startService(self) -> None:
        super().startService()
        self.client.start()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.client.stop()
