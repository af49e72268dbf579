"""The words a person reads for a call's direction and state, one place for every page
(the back office's item page, the call records, R-3.2, R-5.1); translated when shown."""

from __future__ import annotations

from domain.texts import N_

DIRECTION_LABELS = {"in": N_("Inbound"), "out": N_("Outbound"), "internal": N_("Internal")}
CALL_STATE_LABELS = {
    "ivr": N_("In the IVR"),
    "waiting": N_("Waiting"),
    "ringing": N_("Ringing"),
    "in_box": N_("Leaving a message"),
    "talking": N_("Talking"),
    "answered": N_("Answered"),
    "voicemail": N_("Left a message"),
    "callback": N_("Asked for a callback"),
    "abandoned_ivr": N_("Hung up in the IVR"),
    "abandoned_queue": N_("Hung up while waiting"),
    "abandoned_ringing": N_("Hung up while ringing"),
    "closed": N_("Outside business hours"),
    "transferred": N_("Transferred"),
    "fallback": N_("Fallback"),
    "no_answer": N_("Not answered"),
    "busy": N_("Busy"),
    "failed": N_("Failed"),
}
