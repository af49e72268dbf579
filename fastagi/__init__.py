"""FastAGI: Hotline's own Twisted implementation of the Asterisk Gateway Interface over TCP.

* :mod:`fastagi.protocol` -- the wire format, pure: environment -> :class:`AGIRequest`, reply
  lines -> :class:`AGIReply`, and :func:`format_command`, the one place arguments are quoted.
* :mod:`fastagi.channel` -- :class:`AGIChannel`, typed commands for call flows (Deferreds, so
  ``await`` works), hang-up and redirect detection.
* :mod:`fastagi.server` -- :class:`FastAGIFactory` / :func:`listen_agi`: limits, allow-list,
  one wrapper around every flow, ``on_session_end(request, outcome)``.
* :mod:`fastagi.errors` -- :class:`ChannelHungUp`, :class:`ChannelRedirected` and the
  ``AGI*Error`` family.

Behaviour follows the recordings of a real Asterisk 22 in ``shared/asterisk-facts/``.
"""

from fastagi.channel import AGIChannel, HangupKind, RecordResult
from fastagi.errors import (
    AGIArgumentError,
    AGICommandError,
    AGIError,
    AGIProtocolError,
    AGITimeoutError,
    AGIUsageError,
    ChannelHungUp,
    ChannelRedirected,
)
from fastagi.limits import AGILimits
from fastagi.protocol import AGIReply, AGIRequest, format_command
from fastagi.server import FastAGIFactory, SessionOutcome, listen_agi

__all__ = [
    "AGIArgumentError",
    "AGIChannel",
    "AGICommandError",
    "AGIError",
    "AGILimits",
    "AGIProtocolError",
    "AGIReply",
    "AGIRequest",
    "AGITimeoutError",
    "AGIUsageError",
    "ChannelHungUp",
    "ChannelRedirected",
    "FastAGIFactory",
    "HangupKind",
    "RecordResult",
    "SessionOutcome",
    "format_command",
    "listen_agi",
]
