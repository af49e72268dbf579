"""The reports of R-5.3 as tables: one shape for the page, the chart, CSV, XLSX and PDF.

The store (``reports.store.figures``) counts; the functions here turn its rows into a
:class:`ReportTable`: columns with a gettext label and a kind (how a cell is shown and
exported), rows of plain values, and which columns the chart draws. The definitions of the
figures are in ``docs/kpi.md``. Pure: standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from domain.texts import N_

Cell = str | int | float | None


class Kind(StrEnum):
    """How a column's cells read: a name, a word to translate, a count, seconds, a share."""

    TEXT = "text"
    TERM = "term"  # a gettext message id (an outcome, a weekday)
    COUNT = "count"
    SECONDS = "seconds"
    RATIO = "ratio"  # 0..1, shown as a percentage


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # gettext message id, or a name of the centre's own when not ``translate``
    kind: Kind
    translate: bool = True


class ChartKind(StrEnum):
    BAR = "bar"
    STACKED = "stacked"
    LINE = "line"


@dataclass(frozen=True)
class Chart:
    kind: ChartKind
    series: tuple[str, ...]  # column keys drawn; the first column labels the x axis


@dataclass(frozen=True)
class ReportTable:
    key: str
    title: str  # gettext message id
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    chart: Chart
    notes: tuple[str, ...] = field(default=())  # gettext message ids shown under the table

    def column(self, key: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.key == key)

    def values(self, key: str) -> list[Cell]:
        index = self.column(key)
        return [row[index] for row in self.rows]


# ---------------------------------------------------------------- the rows the store counts


@dataclass(frozen=True)
class QueueRow:
    """Per queue (docs/kpi.md): the KPI population and its figures."""

    queue: str
    calls: int
    answered: int
    average_wait_s: float | None
    average_talk_s: float | None
    service_level: float | None
    abandoned: int
    abandonment: float | None
    reachability: float | None
    voicemail: int
    callback: int
    closed: int
    lost_not_recovered: int


@dataclass(frozen=True)
class AgentRow:
    """Per agent: the agent's calls by state, times and missed rings (docs/kpi.md)."""

    agent: str
    answered: int
    outbound_answered: int
    outbound_unanswered: int
    talk_s: float
    processing_s: float
    missed_rings: int
    login_s: float
    pause_s: tuple[float, ...]  # one per pause type of AgentReport.pause_types


@dataclass(frozen=True)
class AgentReport:
    pause_types: tuple[str, ...]
    rows: tuple[AgentRow, ...]


@dataclass(frozen=True)
class ActivityRow:
    """Calls started in one hour of the day or on one day (docs/kpi.md)."""

    label: str
    inbound: int
    answered: int
    abandoned: int
    outbound: int


@dataclass(frozen=True)
class DidRow:
    did: str
    name: str
    calls: int
    answered: int
    boxes: int  # voicemail or callback chosen
    abandoned: int
    other: int


@dataclass(frozen=True)
class IvrRow:
    menu: str
    digit: str
    outcome: str  # domain.enums.IvrOutcome value
    target: str
    presses: int
    calls: int


@dataclass(frozen=True)
class ReasonRow:
    path: str
    direction: str  # domain.enums.Direction value
    calls: int
    talk_s: float


# ---------------------------------------------------------------- the tables

REPORTS: dict[str, str] = {
    "queues": N_("Queues"),
    "agents": N_("Agents"),
    "hours": N_("Activity by hour"),
    "days": N_("Activity by day"),
    "dids": N_("Numbers dialled (DID)"),
    "ivr": N_("IVR options pressed"),
    "reasons": N_("Reason paths"),
}

OUTCOME_TERMS = {"option": N_("option"), "invalid": N_("invalid key"), "timeout": N_("no key")}
DIRECTION_TERMS = {"in": N_("inbound"), "out": N_("outbound"), "internal": N_("internal")}


def _by_field(
    key: str,
    columns: tuple[Column, ...],
    rows: Sequence[object],
    chart: Chart,
    notes: tuple[str, ...] = (),
) -> ReportTable:
    """A table whose column keys are the rows' field names."""
    cells = tuple(tuple(getattr(r, c.key) for c in columns) for r in rows)
    return ReportTable(key, REPORTS[key], columns, cells, chart, notes)


def queue_table(rows: Sequence[QueueRow]) -> ReportTable:
    columns = (
        Column("queue", N_("Queue"), Kind.TEXT),
        Column("calls", N_("Calls"), Kind.COUNT),
        Column("answered", N_("Answered"), Kind.COUNT),
        Column("average_wait_s", N_("Average wait"), Kind.SECONDS),
        Column("average_talk_s", N_("Average talk"), Kind.SECONDS),
        Column("service_level", N_("Service level"), Kind.RATIO),
        Column("abandoned", N_("Abandoned"), Kind.COUNT),
        Column("abandonment", N_("Abandonment"), Kind.RATIO),
        Column("reachability", N_("Reachability"), Kind.RATIO),
        Column("voicemail", N_("Voicemail"), Kind.COUNT),
        Column("callback", N_("Callback"), Kind.COUNT),
        Column("closed", N_("Closed"), Kind.COUNT),
        Column("lost_not_recovered", N_("Lost, not recovered"), Kind.COUNT),
    )
    return _by_field(
        "queues",
        columns,
        rows,
        Chart(ChartKind.STACKED, ("answered", "voicemail", "callback", "abandoned", "closed")),
        notes=(N_("Service level and reachability as defined in the KPI definitions."),),
    )


def agent_table(report: AgentReport) -> ReportTable:
    columns = [
        Column("agent", N_("Agent"), Kind.TEXT),
        Column("answered", N_("Answered"), Kind.COUNT),
        Column("outbound_answered", N_("Outbound, answered"), Kind.COUNT),
        Column("outbound_unanswered", N_("Outbound, not answered"), Kind.COUNT),
        Column("talk_s", N_("Talk time"), Kind.SECONDS),
        Column("processing_s", N_("Processing time"), Kind.SECONDS),
        Column("missed_rings", N_("Missed rings"), Kind.COUNT),
        Column("login_s", N_("Logged in"), Kind.SECONDS),
    ]
    # Pause types are the centre's own names, shown as they are (not translated).
    for i, name in enumerate(report.pause_types):
        columns.append(Column(f"pause_{i}", name, Kind.SECONDS, translate=False))
    rows: tuple[tuple[Cell, ...], ...] = tuple(
        (
            r.agent,
            r.answered,
            r.outbound_answered,
            r.outbound_unanswered,
            r.talk_s,
            r.processing_s,
            r.missed_rings,
            r.login_s,
            *r.pause_s,
        )
        for r in report.rows
    )
    return ReportTable(
        "agents",
        REPORTS["agents"],
        tuple(columns),
        rows,
        Chart(ChartKind.STACKED, ("answered", "outbound_answered", "outbound_unanswered")),
    )


def _activity_columns(first: Column) -> tuple[Column, ...]:
    return (
        first,
        Column("inbound", N_("Inbound"), Kind.COUNT),
        Column("answered", N_("Answered"), Kind.COUNT),
        Column("abandoned", N_("Abandoned"), Kind.COUNT),
        Column("outbound", N_("Outbound"), Kind.COUNT),
    )


def _activity_rows(rows: Sequence[ActivityRow]) -> tuple[tuple[Cell, ...], ...]:
    return tuple((r.label, r.inbound, r.answered, r.abandoned, r.outbound) for r in rows)


def hours_table(rows: Sequence[ActivityRow]) -> ReportTable:
    return ReportTable(
        "hours",
        REPORTS["hours"],
        _activity_columns(Column("hour", N_("Hour"), Kind.TEXT)),
        _activity_rows(rows),
        Chart(ChartKind.BAR, ("inbound", "answered", "abandoned", "outbound")),
    )


def days_table(rows: Sequence[ActivityRow]) -> ReportTable:
    return ReportTable(
        "days",
        REPORTS["days"],
        _activity_columns(Column("day", N_("Day"), Kind.TEXT)),
        _activity_rows(rows),
        Chart(ChartKind.LINE, ("inbound", "answered", "abandoned", "outbound")),
    )


def day_label(day: date) -> str:
    """A day as the activity report's first column shows it: ISO, so it sorts and exports."""
    return day.isoformat()


def did_table(rows: Sequence[DidRow]) -> ReportTable:
    columns = (
        Column("did", N_("Number"), Kind.TEXT),
        Column("name", N_("Name"), Kind.TEXT),
        Column("calls", N_("Calls"), Kind.COUNT),
        Column("answered", N_("Answered"), Kind.COUNT),
        Column("boxes", N_("Voicemail or callback"), Kind.COUNT),
        Column("abandoned", N_("Abandoned"), Kind.COUNT),
        Column("other", N_("Other"), Kind.COUNT),
    )
    return _by_field(
        "dids", columns, rows, Chart(ChartKind.STACKED, ("answered", "boxes", "abandoned", "other"))
    )


def ivr_table(rows: Sequence[IvrRow]) -> ReportTable:
    columns = (
        Column("menu", N_("Menu"), Kind.TEXT),
        Column("digit", N_("Key"), Kind.TEXT),
        Column("outcome", N_("Outcome"), Kind.TERM),
        Column("target", N_("Leads to"), Kind.TEXT),
        Column("presses", N_("Presses"), Kind.COUNT),
        Column("calls", N_("Calls"), Kind.COUNT),
    )
    return ReportTable(
        "ivr",
        REPORTS["ivr"],
        columns,
        tuple(
            (r.menu, r.digit, OUTCOME_TERMS.get(r.outcome, r.outcome), r.target, r.presses, r.calls)
            for r in rows
        ),
        Chart(ChartKind.BAR, ("presses",)),
    )


def reason_table(rows: Sequence[ReasonRow]) -> ReportTable:
    columns = (
        Column("path", N_("Reason path"), Kind.TEXT),
        Column("direction", N_("Direction"), Kind.TERM),
        Column("calls", N_("Calls"), Kind.COUNT),
        Column("talk_s", N_("Talk time"), Kind.SECONDS),
    )
    return ReportTable(
        "reasons",
        REPORTS["reasons"],
        columns,
        tuple(
            (r.path, DIRECTION_TERMS.get(r.direction, r.direction), r.calls, r.talk_s) for r in rows
        ),
        Chart(ChartKind.BAR, ("calls",)),
    )
