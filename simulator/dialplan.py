"""The dialplan the fake switch runs: Hotline's own ``asterisk-conf/extensions.conf``.

:func:`load_hotline_dialplan` reads the shipped ``extensions.conf`` (the part of the
language it uses: contexts, ``[globals]``, ``exten =>``/``same =>`` with ``n`` and labels,
``AGI()``, ``GotoIf($[...]?label)``, ``Goto()``, ``Set()``, ``Dial()``, ``VoiceMail()``...)
so that the simulator exercises the very dialplan an admin loads (installed with Hotline as
``asterisk_conf``), with the ``[globals]`` that name the FastAGI servers and the fallback
replaced from the simulator's settings. The names Hotline and the dialplan share are in
``dialplan.channel_vars``.

The shipped plan (R-1.16): ``[hotline-inbound]`` (exten = DID) runs
``AGI(${HOTLINE_AGI_1}/inbound,${HOTLINE_DID})`` then ``[hotline-resume]``: unless
``HOTLINE_DONE=1``, ``AGI(.../resume,${HOTLINE_DID})`` on server 1, then on server 2, in up
to ``HOTLINE_RESUME_ROUNDS`` rounds with ``MusicOnHold(,${HOTLINE_RESUME_WAIT_S})`` between
them (the round counter is ``Set(HOTLINE_ROUND=$[${HOTLINE_ROUND} + 1])``: the switch expands
``$[...]`` in application data, :func:`expand_expressions`), then ``[hotline-fallback]``
(Answer, ring group with music, VoiceMail). ``[hotline-exit]`` (# and 0, the EXITCONTEXT of
Dial option d) and ``[hotline-transfer]`` (AMI Redirect target) also end in the resume chain;
``[hotline-answered]`` is the Dial ``U()`` gosub (exten ``s``: Asterisk 22 always starts it
there) and ``[hotline-outbound]`` runs an Originate's agent leg.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import asterisk_conf


@dataclass(frozen=True)
class Agi:
    """``AGI(url,args...)``."""

    url: str
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"AGI({','.join((self.url, *self.args))})"


@dataclass(frozen=True)
class App:
    """Any other application, e.g. ``App("Dial", "PJSIP/101&PJSIP/102,30")``."""

    name: str
    data: str = ""

    def __str__(self) -> str:
        return f"{self.name}({self.data})"


@dataclass(frozen=True)
class GotoIf:
    """``GotoIf($[condition]?if_true:if_false)``; targets are ``[[context,]exten,]prio``
    or a label of the current extension; an empty target goes on to the next step."""

    condition: str
    if_true: str = ""
    if_false: str = ""

    def __str__(self) -> str:
        tail = f":{self.if_false}" if self.if_false else ""
        return f"GotoIf($[{self.condition}]?{self.if_true}{tail})"


Step = Agi | App | GotoIf


@dataclass(frozen=True)
class Extension:
    """An extension (literal, or an Asterisk pattern starting with ``_``): its steps are
    priorities 1, 2, 3...; ``labels`` name some of them."""

    pattern: str
    steps: tuple[Step, ...]
    labels: Mapping[str, int] = field(default_factory=dict)

    def matches(self, exten: str) -> bool:
        return pattern_matches(self.pattern, exten)


@dataclass(frozen=True)
class Context:
    name: str
    extensions: tuple[Extension, ...]


class Dialplan:
    """Contexts by name plus ``[globals]``. Lookups follow Asterisk: an exact extension
    beats a pattern, patterns are tried in the order written."""

    def __init__(self, contexts: Iterable[Context], globals_: Mapping[str, str] | None = None):
        self._contexts = {context.name: context for context in contexts}
        self.globals: dict[str, str] = dict(globals_ or {})

    @property
    def context_names(self) -> list[str]:
        return list(self._contexts)

    def context(self, name: str) -> Context | None:
        return self._contexts.get(name)

    def extension(self, context: str, exten: str) -> Extension | None:
        found = self._contexts.get(context)
        if found is None:
            return None
        for extension in found.extensions:
            if not extension.pattern.startswith("_") and extension.pattern == exten:
                return extension
        for extension in found.extensions:
            if extension.pattern.startswith("_") and extension.matches(exten):
                return extension
        return None

    def step(self, context: str, exten: str, priority: int) -> Step | None:
        extension = self.extension(context, exten)
        if extension is None or not 1 <= priority <= len(extension.steps):
            return None
        return extension.steps[priority - 1]

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        return self.step(context, exten, priority) is not None

    def resolve(self, target: str, context: str, exten: str) -> tuple[str, str, int] | None:
        """A Goto target (``[[context,]exten,]priority`` or label) from ``context,exten``."""
        parts = [part.strip() for part in split_app_args(target)]
        if len(parts) == 3:
            context, exten, where = parts
        elif len(parts) == 2:
            exten, where = parts
        else:
            where = parts[0]
        if where.isdigit():
            return context, exten, int(where)
        extension = self.extension(context, exten)
        if extension is None or where not in extension.labels:
            return None
        return context, exten, extension.labels[where]


def split_app_args(data: str) -> list[str]:
    """Split application data on commas outside parentheses, brackets and quotes."""
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for char in data:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]" and depth:
            depth -= 1
        elif char == "," and not quoted and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def pattern_matches(pattern: str, exten: str) -> bool:
    """Asterisk extension matching: literal, or ``_`` + X Z N [..] . ! pattern."""
    if not pattern.startswith("_"):
        return pattern == exten
    return _compiled(pattern).fullmatch(exten) is not None


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    out = []
    index = 1
    while index < len(pattern):
        char = pattern[index]
        upper = char.upper()
        if upper == "X":
            out.append("[0-9]")
        elif upper == "Z":
            out.append("[1-9]")
        elif upper == "N":
            out.append("[2-9]")
        elif char == ".":
            out.append(".+")
        elif char == "!":
            out.append(".*")
        elif char == "[":
            end = pattern.find("]", index)
            if end < 0:
                out.append(re.escape(pattern[index:]))
                break
            body = pattern[index + 1 : end].replace("\\", "\\\\").replace("^", "\\^")
            out.append(f"[{body}]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out), re.DOTALL)


def evaluate(expression: str) -> bool:
    """The ``$[...]`` expressions GotoIf needs, after substitution: ``a = b``, ``a != b``,
    ``a < b``, ``a <= b``, ``a > b``, ``a >= b`` (quotes optional; numbers compared as
    numbers, as Asterisk's expression parser does), or a bare value (true unless empty or
    0). Anything fancier is not modelled and counts as false."""
    value = _expression_value(expression)
    return value not in ("", "0") and re.fullmatch(r"[^\s=!<>&|]+", value) is not None


_COMPARISON = re.compile(r'\s*("[^"]*"|[^\s!=<>]*)\s*(==|=|!=|<=|>=|<|>)\s*("[^"]*"|[^\s!=<>]*)\s*')
_ARITHMETIC = re.compile(r"\s*(-?\d+)\s*([-+*/%])\s*(-?\d+)\s*")


def _expression_value(expression: str) -> str:
    """The value of one ``$[...]`` expression: "1"/"0" for a comparison, the number for
    integer arithmetic (``a + b``, ``-``, ``*``, ``/``, ``%``), else the text itself."""
    match = _COMPARISON.fullmatch(expression)
    if match:
        left, operator, right = (_unquote(match.group(1)), match.group(2), _unquote(match.group(3)))
        try:
            order = _order(float(left), float(right))
        except ValueError:
            order = _order(left, right)
        allowed = {
            "=": (0,),
            "==": (0,),
            "!=": (-1, 1),
            "<": (-1,),
            "<=": (-1, 0),
            ">": (1,),
            ">=": (0, 1),
        }[operator]
        return "1" if order in allowed else "0"
    match = _ARITHMETIC.fullmatch(expression)
    if match:
        left_n, operator, right_n = int(match.group(1)), match.group(2), int(match.group(3))
        if operator in "/%" and right_n == 0:
            return "0"  # Asterisk logs a division by zero and yields 0
        value = {
            "+": left_n + right_n,
            "-": left_n - right_n,
            "*": left_n * right_n,
            "/": int(left_n / right_n) if right_n else 0,
            "%": left_n % right_n if right_n else 0,
        }[operator]
        return str(value)
    return _unquote(expression.strip())


def _order(a: float | str, b: float | str) -> int:
    """-1, 0 or 1 as ``a`` is below, equal to or above ``b`` (both numbers or both text)."""
    return (a > b) - (a < b)  # type: ignore[operator]


def expand_expressions(text: str) -> str:
    """Replace each ``$[...]`` in application data (after variable substitution) by its
    value, as Asterisk does before the application runs: ``Set(N=$[${N} + 1])``."""
    out: list[str] = []
    index = 0
    while True:
        start = text.find("$[", index)
        if start < 0:
            out.append(text[index:])
            return "".join(out)
        depth, end = 0, start + 1
        while end < len(text):
            depth += {"[": 1, "]": -1}.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        if depth:  # unbalanced: Asterisk leaves it as written
            out.append(text[index:])
            return "".join(out)
        out.append(text[index:start])
        out.append(_expression_value(expand_expressions(text[start + 2 : end])))
        index = end + 1


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


# ----------------------------------------------------------------- extensions.conf parser
class DialplanParseError(ValueError):
    """An extensions.conf line the simulator cannot read; the message names the line."""


_EXTEN_LINE = re.compile(r"^(exten|same)\s*=>?\s*(.*)$", re.IGNORECASE)
_PRIORITY = re.compile(r"^(\d+|n|hint)(?:\(([^)]*)\))?$", re.IGNORECASE)


def parse_extensions_conf(
    text: str, source: str = "extensions.conf", global_overrides: Mapping[str, str] | None = None
) -> Dialplan:
    """Read the extensions.conf language the shipped file uses into a :class:`Dialplan`."""
    globals_: dict[str, str] = {}
    contexts: dict[str, dict[str, tuple[list[Step], dict[str, int]]]] = {}
    section = ""
    current_exten = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\](?:\(.*\))?", line)
        if header:
            section = header.group(1).strip()
            if section not in ("general", "globals"):
                contexts.setdefault(section, {})
            current_exten = ""
            continue
        if section == "general":
            continue
        if section == "globals":
            name, equals, value = line.partition("=")
            if equals:
                globals_[name.strip()] = value.strip()
            continue
        if not section:
            raise DialplanParseError(f"{source}:{number}: a line outside any [context]")
        match = _EXTEN_LINE.match(line)
        if match is None:
            if line.lower().startswith(("include", "switch", "ignorepat")):
                continue  # not used by Hotline's file; not modelled
            raise DialplanParseError(f"{source}:{number}: cannot read {line!r}")
        kind, rest = match.group(1).lower(), match.group(2).lstrip(">").strip()
        if kind == "exten":
            pattern, _, rest = rest.partition(",")
            current_exten = pattern.strip()
        elif not current_exten:
            raise DialplanParseError(f"{source}:{number}: 'same =>' before any 'exten =>'")
        priority_text, _, application = rest.partition(",")
        priority = _PRIORITY.match(priority_text.strip())
        if priority is None:
            raise DialplanParseError(f"{source}:{number}: bad priority {priority_text!r}")
        if priority.group(1).lower() == "hint":
            continue
        steps, labels = contexts[section].setdefault(current_exten, ([], {}))
        if priority.group(1).isdigit() and int(priority.group(1)) != len(steps) + 1:
            raise DialplanParseError(
                f"{source}:{number}: priority {priority.group(1)} out of order "
                f"(the simulator expects 1, n, n...)"
            )
        if priority.group(2):
            labels[priority.group(2).strip()] = len(steps) + 1
        steps.append(_step(application.strip()))
    globals_.update(global_overrides or {})
    return Dialplan(
        [
            Context(
                name,
                tuple(
                    Extension(pattern, tuple(steps), dict(labels))
                    for pattern, (steps, labels) in extensions.items()
                ),
            )
            for name, extensions in contexts.items()
        ],
        globals_,
    )


def _strip_comment(line: str) -> str:
    escaped = False
    for index, char in enumerate(line):
        if char == "\\" and not escaped:
            escaped = True
            continue
        if char == ";" and not escaped:
            return line[:index]
        escaped = False
    return line


def _step(application: str) -> Step:
    name, paren, rest = application.partition("(")
    data = rest[: rest.rfind(")")] if paren and ")" in rest else rest
    name = name.strip()
    if name.upper() == "AGI":
        url, *args = split_app_args(data)
        return Agi(url.strip(), tuple(args))
    if name.lower() == "gotoif":
        return _gotoif(data)
    return App(name, data)


def _gotoif(data: str) -> GotoIf:
    condition, targets = data, ""
    if data.startswith("$["):
        depth = 0
        for index, char in enumerate(data):
            depth += {"[": 1, "]": -1}.get(char, 0)
            if depth == 0 and char == "]":
                condition, targets = data[2:index], data[index + 1 :].lstrip("?")
                break
    else:
        condition, _, targets = data.partition("?")
    if_true, _, if_false = targets.partition(":")
    return GotoIf(condition.strip(), if_true.strip(), if_false.strip())


# -------------------------------------------------------------- Hotline's own dialplan
@dataclass(frozen=True)
class FallbackDestination:
    """The fallback of R-1.16 (``[globals]`` of extensions.conf): a ring group rung for
    ``ring_timeout_s``, then a VoiceMail box. None keeps the shipped file's value."""

    ring_group: tuple[str, ...] | None = None
    ring_timeout_s: int | None = None
    voicemail_box: str | None = None


@dataclass(frozen=True)
class HotlineDialplanSettings:
    """FastAGI servers (``host:port``, the first one or two are used, as the shipped file
    has HOTLINE_AGI_1 and _2; one server stands for both), fallback, trunk."""

    servers: tuple[str, ...] = ("127.0.0.1:4573",)
    fallback: FallbackDestination = field(default_factory=FallbackDestination)
    trunk: str | None = None

    def global_overrides(self) -> dict[str, str]:
        if not self.servers:
            raise ValueError("the dialplan needs at least one FastAGI server")
        first = self.servers[0]
        second = self.servers[1] if len(self.servers) > 1 else first
        overrides = {"HOTLINE_AGI_1": f"agi://{first}", "HOTLINE_AGI_2": f"agi://{second}"}
        if self.fallback.ring_group is not None:
            overrides["HOTLINE_FALLBACK_GROUP"] = "&".join(self.fallback.ring_group)
        if self.fallback.ring_timeout_s is not None:
            overrides["HOTLINE_FALLBACK_RING_S"] = str(self.fallback.ring_timeout_s)
        if self.fallback.voicemail_box is not None:
            overrides["HOTLINE_FALLBACK_MAILBOX"] = self.fallback.voicemail_box
        if self.trunk is not None:
            overrides["HOTLINE_TRUNK"] = self.trunk
        return overrides


def load_hotline_dialplan(
    settings: HotlineDialplanSettings | None = None, path: Path | None = None
) -> Dialplan:
    """The shipped extensions.conf (or the file at ``path``) with the settings' globals."""
    settings = settings or HotlineDialplanSettings()
    if path is None:
        text, name = asterisk_conf.read_text("extensions.conf"), "extensions.conf"
    else:
        text, name = path.read_text(encoding="utf-8"), str(path)
    return parse_extensions_conf(text, name, settings.global_overrides())
