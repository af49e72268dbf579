"""The exceptions a FastAGI session raises.

Flows care about two families:

* :class:`ChannelHungUp` (and its subclass :class:`ChannelRedirected`): the call left the AGI
  session. It is deliberately NOT an :class:`AGIError`, so ``except AGIError`` in a flow never
  swallows a hang-up by accident (ARCHITECTURE "Hang-up is an exception").
* :class:`AGIError` and its subclasses: something went wrong with a command or the wire.
"""

from __future__ import annotations


class ChannelHungUp(Exception):
    """The channel is gone: Asterisk said ``HANGUP``/``511``, a wait command returned -1, or
    the connection closed. Raised by the failing call and, for commands Asterisk refuses on a
    dead channel, by every later one."""


class ChannelRedirected(ChannelHungUp):
    """The AGI session ended because the channel was moved elsewhere (AMI ``Redirect``, a
    transfer), not because the caller hung up. Asterisk makes both look alike on the wire
    (transcripts redirect-001/-002); :meth:`AGIChannel.hangup_kind` tells them apart."""


class AGIError(Exception):
    """Base class of every FastAGI error other than a hang-up."""


class AGIArgumentError(AGIError, ValueError):
    """A command argument cannot be sent safely (CR, LF or NUL inside it, or the line would be
    longer than Asterisk's 2 KiB command buffer). Raised before anything is written."""


class AGIProtocolError(AGIError):
    """The peer broke the AGI wire protocol (garbage reply, over-long line, oversized
    environment, reply without a command). The session is closed."""


class AGITimeoutError(AGIError):
    """A reply (or the environment block) did not arrive before its deadline. The session is
    closed."""


class AGICommandError(AGIError):
    """Asterisk rejected a command: ``510 Invalid or unknown command`` or another error code, or
    a command reported failure in its result."""

    def __init__(self, command: str, message: str, code: int | None = None) -> None:
        super().__init__(f"{command!r}: {message}")
        self.command = command
        self.message = message
        self.code = code


class AGIUsageError(AGICommandError):
    """Asterisk answered ``520``: wrong arguments for the command. ``usage`` holds the proper
    usage text Asterisk sent in its multi-line block."""

    def __init__(self, command: str, usage: str) -> None:
        super().__init__(command, "invalid command syntax", code=520)
        self.usage = usage
