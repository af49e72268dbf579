"""The trunk every outside number leaves through (R-1.11 rota numbers, R-1.13 outbound).

One setting, one place: the dialplan's ``[globals]`` ``HOTLINE_TRUNK_TECH`` and
``HOTLINE_TRUNK`` (asterisk-conf/extensions.conf), read from the channel when a number is
dialled, so that Hotline and the dialplan's own fallback Dials can never disagree. A
number is dialled as ``${HOTLINE_TRUNK_TECH}/<number>@${HOTLINE_TRUNK}``:
``PJSIP/420777123456@trunk`` with the shipped values, ``Local/420777123456@my-route`` for a
route of the admin's own.
"""

from __future__ import annotations

from twisted.logger import Logger

from dialplan.channel_vars import TRUNK_TECH_VARIABLE, TRUNK_VARIABLE
from fastagi.channel import AGIChannel

_log = Logger()


async def trunk_dial_string(channel: AGIChannel, number: str) -> str | None:
    """The dial string of ``number`` (international digits) through the dialplan's trunk;
    None, with an error in the log, when the dialplan names no trunk."""
    both = await channel.get_full_variable(f"${{{TRUNK_TECH_VARIABLE}}} ${{{TRUNK_VARIABLE}}}")
    tech, _, trunk = (both or "").strip().partition(" ")
    if not tech or not trunk or not number.isdigit():
        _log.error(
            "cannot dial {number}: set {tech_var} and {trunk_var} in extensions.conf "
            "[globals] (now {tech!r} and {trunk!r})",
            number=number,
            tech_var=TRUNK_TECH_VARIABLE,
            trunk_var=TRUNK_VARIABLE,
            tech=tech,
            trunk=trunk,
        )
        return None
    return f"{tech}/{number}@{trunk}"
