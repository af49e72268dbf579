"""The names Hotline and its shipped dialplan (``asterisk-conf/extensions.conf``) share.

Pure. The contexts the flows send a channel to or hear it come from, the scripts the
dialplan asks for, and the channel variables the two pass each other. The simulator runs
the very ``extensions.conf`` (``simulator.dialplan``), and ``tests/dialplan`` checks that
every name here is in it, so the two cannot drift apart.
"""

from __future__ import annotations

# Contexts of extensions.conf.
INBOUND_CONTEXT = "hotline-inbound"  # a DID: AGI inbound, then the resume chain
RESUME_CONTEXT = "hotline-resume"  # resume on server 1, then 2, in rounds, then fallback
FALLBACK_CONTEXT = "hotline-fallback"  # the plain fallback: ring group, then voicemail
EXIT_CONTEXT = "hotline-exit"  # Dial option d: the caller's # or 0 while an agent rings
ANSWERED_CONTEXT = "hotline-answered"  # the U() gosub on the agent leg at the answer
TRANSFER_CONTEXT = "hotline-transfer"  # where an AMI Redirect sends a transferred caller
OUTBOUND_CONTEXT = "hotline-outbound"  # an Originate's agent leg dials the customer here

# The AGI scripts the dialplan asks for (agi://host:port/<script>,args).
SCRIPTS = ("inbound", "resume", "answered", "transfer", "outbound")

# Set by Hotline before its session ends: "1" the call is dealt with (no resume),
# "fallback" hand the caller to the plain fallback destination.
DONE_VARIABLE = "HOTLINE_DONE"
DONE = "1"
TO_FALLBACK = "fallback"
# Set on the caller's channel before a transfer's redirect, so that the old AGI session
# knows it was moved, not hung up (fastagi.channel.AGIChannel.hangup_kind).
TRANSFER_VARIABLE = "HOTLINE_TRANSFER"
# Set on an outbound call's Originate: the call record the outbound script carries on.
CALL_ID_VARIABLE = "HOTLINE_CALL_ID"
# Set by [hotline-exit] to the key the caller pressed while an agent rang, for a session
# resumed after the server that started the Dial died (issue 10).
EXIT_KEY_VARIABLE = "HOTLINE_EXIT_KEY"
# [globals]: the trunk every outside number is dialled through, as
# ${HOTLINE_TRUNK_TECH}/<number>@${HOTLINE_TRUNK}.
TRUNK_TECH_VARIABLE = "HOTLINE_TRUNK_TECH"
TRUNK_VARIABLE = "HOTLINE_TRUNK"
# Asterisk's own: where Dial option d sends a key the caller pressed.
EXIT_CONTEXT_VARIABLE = "EXITCONTEXT"
# Asterisk's own: how the last Dial ended (ANSWER, NOANSWER, BUSY, CANCEL, ...).
DIAL_STATUS_VARIABLE = "DIALSTATUS"
# Asterisk's own: the file of the MixMonitor running on the channel, if any.
MIXMONITOR_VARIABLE = "MIXMONITOR_FILENAME"
# Asterisk's own: the sounds directory a prompt is played from (sounds/<language>/..., R-6.4).
LANGUAGE_VARIABLE = "CHANNEL(language)"
