"""The contact centre's vocabulary: every enumeration that is stored or crosses a layer.

Pure (standard library only). The database stores these values (``db.models`` uses the very
classes), the pure cores decide with them and the pages show them: one definition each, so
a value cannot mean one thing in a state machine and another in a column.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    BACKOFFICE = "backoffice"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"
    INTERNAL = "internal"


class CallState(StrEnum):
    IVR = "ivr"
    WAITING = "waiting"  # parked in a queue, music on hold
    RINGING = "ringing"  # an agent's phone rings
    # The caller chose a box with # or 0 (or the hours sent them there) and is leaving a
    # message or hearing the callback confirmation: out of the queue, not yet over (R-1.7,
    # No agent is offered a call in a box.
    IN_BOX = "in_box"
    TALKING = "talking"
    ANSWERED = "answered"  # ended after a conversation
    VOICEMAIL = "voicemail"  # caller left a message
    CALLBACK = "callback"  # caller asked to be called back
    ABANDONED_IVR = "abandoned_ivr"
    ABANDONED_QUEUE = "abandoned_queue"
    ABANDONED_RINGING = "abandoned_ringing"
    CLOSED = "closed"  # outside business hours, caller did not leave a request
    TRANSFERRED = "transferred"  # moved elsewhere, the new leg carries on
    FALLBACK = "fallback"  # handed to the dialplan's plain fallback
    NO_ANSWER = "no_answer"  # outbound: the customer did not answer
    BUSY = "busy"
    FAILED = "failed"


class ProcessingState(StrEnum):
    NONE = "none"  # nothing to process (e.g. abandoned)
    PENDING = "pending"  # answered, the Active call form is not saved yet
    DONE = "done"


class AgentState(StrEnum):
    ON_AIR = "on_air"
    OFF_AIR = "off_air"


class Activity(StrEnum):
    """Why an agent is where they are (R-2.2); only ``idle`` with on-air takes calls."""

    IDLE = "idle"
    RINGING = "ringing"
    IN_CALL = "in_call"
    PROCESSING = "processing"
    OUTBOUND = "outbound"
    BACKOFFICE = "backoffice"
    PAUSED = "paused"


class RingOutcome(StrEnum):
    RINGING = "ringing"  # the offer is live; the agent is reserved
    ANSWERED = "answered"
    NO_ANSWER = "no_answer"  # rang out the ring timeout
    BUSY = "busy"
    CANCELLED = "cancelled"  # caller pressed # or 0
    CALLER_HUNG_UP = "caller_hung_up"
    FAILED = "failed"


class BoxKind(StrEnum):
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    COMBINED = "combined"  # a box may take both


class ItemKind(StrEnum):
    MESSAGE = "message"  # a recorded voicemail
    CALLBACK = "callback"  # a callback request, no recording


class ItemState(StrEnum):
    OPEN = "open"
    DONE = "done"
    RESOLVED_BY_CONTACT = "resolved_by_contact"


class ClosedAction(StrEnum):
    """What a queue does with a call outside its hours (R-1.10)."""

    ANNOUNCE = "announce"  # say the opening hours, offer 0 for a callback, then end
    VOICEMAIL = "voicemail"  # straight to the queue's voicemail box


class ReasonDirection(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class IvrOutcome(StrEnum):
    OPTION = "option"
    INVALID = "invalid"
    TIMEOUT = "timeout"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class ReportPeriod(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    ONCE = "once"  # one given period, sent once


class ReportFormat(StrEnum):
    CSV = "csv"
    PDF = "pdf"
    XLSX = "xlsx"


# A call in one of these states is over: its record changes no more.
FINAL_STATES = frozenset(
    {
        CallState.ANSWERED,
        CallState.VOICEMAIL,
        CallState.CALLBACK,
        CallState.ABANDONED_IVR,
        CallState.ABANDONED_QUEUE,
        CallState.ABANDONED_RINGING,
        CallState.CLOSED,
        CallState.TRANSFERRED,
        CallState.FALLBACK,
        CallState.NO_ANSWER,
        CallState.BUSY,
        CallState.FAILED,
    }
)


class AgentNotice(StrEnum):
    """Status-line messages for the agent a call concerns (R-2.5), carried in the
    ``notice`` of ``agent.notice`` events."""

    INCOMING = "incoming"  # new incoming call, waiting mm:ss since queue entry
    CALLER_HUNG_UP = "caller_hung_up"  # caller hung up while ringing
    MOVED_TO_BOX = "moved_to_box"  # call was transferred to: <box name> (# or 0)
    HANDED_TO_ANOTHER = "handed_to_another"  # ring timeout, someone else is free
    WILL_BE_HANDED = "will_be_handed"  # ring timeout, parked until someone is free
    CONNECTED = "connected"  # waiting time was mm:ss
