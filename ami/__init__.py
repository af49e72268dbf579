"""AMI: Hotline's own Twisted client for the Asterisk Manager Interface.

``ami.protocol`` frames messages (pure, no Twisted); ``ami.client`` is the session:
login, ActionID correlation, list actions, events, reconnect, and Hotline's typed actions.
"""

from ami.client import (
    AMIActionError,
    AMIAuthError,
    AMIClient,
    AMIClientService,
    AMIClientState,
    AMIConnectionLostError,
    AMIListResult,
    AMINotConnectedError,
    AMITimeoutError,
    Originated,
    OriginateOutcome,
    connect_ami,
)
from ami.protocol import (
    AMIError,
    AMIGreeting,
    AMIMessage,
    AMIMessageTooLargeError,
    AMIParser,
    AMIProtocolError,
    AMIValueError,
    format_action,
    format_message,
)

__all__ = [
    "AMIActionError",
    "AMIAuthError",
    "AMIClient",
    "AMIClientService",
    "AMIClientState",
    "AMIConnectionLostError",
    "AMIError",
    "AMIGreeting",
    "AMIListResult",
    "AMIMessage",
    "AMIMessageTooLargeError",
    "AMINotConnectedError",
    "AMIParser",
    "AMIProtocolError",
    "AMITimeoutError",
    "AMIValueError",
    "OriginateOutcome",
    "Originated",
    "connect_ami",
    "format_action",
    "format_message",
]
