"""The page of scheduled reports (R-5.5): which report goes to whom, how often, in which
format; and how its last sendings went.

- ``GET /reports/schedules``: the schedules with their last sendings (failures with their
  error);
- ``GET /reports/schedules/new`` and ``POST /reports/schedules``: a new schedule;
- ``GET /reports/schedules/<id>`` and ``POST /reports/schedules/<id>``: change one;
- ``POST /reports/schedules/<id>/delete``: delete one and its log.

Rights (R-7.4): a supervisor manages the schedules they made, for the queues they have a
right to, and their reports are made with their rights; an admin manages every schedule.
Agents and the back office are refused. A wrong field is said next to the field, by its
label, in the reader's language, with everything typed kept. The sending time is local
time of the centre's time zone (its ``time_zone`` setting). A one-off schedule (period
``once``) names its report's first and last day and the day it is sent; once sent, the page
shows it done. The refusals are ``domain.report_schedules``', the YAML catalog's too.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from domain.enums import ReportFormat, ReportPeriod, Role
from domain.refusals import BadInputError, ForbiddenError, NotFoundError, RefusedError
from domain.report_schedules import (
    FILL_IN,
    MAX_RECIPIENTS,
    check_one_off,
    day,
    parse_recipients,
    report_language,
    time_of_day,
)
from domain.texts import N_
from reports.report_tables import REPORTS
from reports.store import figures
from reports.store import schedules as store
from web.access import RouteTable, roles
from web.forms import FormData
from web.request import RequestContext

PAGE = "/reports/schedules"
routes = RouteTable("report_schedules", templates=Path(__file__).resolve().parent / "templates")
MANAGERS = roles(Role.SUPERVISOR, Role.ADMIN)

PERIODS = {
    ReportPeriod.DAILY: N_("daily (the day before)"),
    ReportPeriod.WEEKLY: N_("weekly (Monday to Sunday)"),
    ReportPeriod.MONTHLY: N_("monthly (the calendar month)"),
    ReportPeriod.ONCE: N_("once (the days below, sent on the day below)"),
}
FORMAT_NAMES = {ReportFormat.PDF: "PDF", ReportFormat.XLSX: "XLSX", ReportFormat.CSV: "CSV"}
LABELS = {
    "report": N_("Report"),
    "queue": N_("Queue"),
    "period": N_("Period"),
    "format": N_("Format"),
    "send_at": N_("Sent at"),
    "recipients": N_("Recipients"),
    "language": N_("Language of the report"),
    "first_day": N_("First day"),
    "last_day": N_("Last day"),
    "send_on": N_("Sent on"),
}
ONE_OFF_FIELDS = ("first_day", "last_day", "send_on")
SAVED = N_("The schedule is saved.")
DELETED = N_("The schedule is deleted.")


def scope_of(rc: RequestContext) -> figures.Scope:
    """The queues the reader may pick: an admin every one, a supervisor theirs (R-7.4)."""
    user = rc.signed_in
    return figures.Scope(None if user.role is Role.ADMIN else user.queue_ids)


def _manager(rc: RequestContext) -> store.Manager:
    return store.Manager(rc.signed_in.agent_id, rc.signed_in.role)


def _day(form: FormData, name: str, *, required: bool) -> date | None:
    text = form.text(name, max_len=10, required=False, label=LABELS[name])
    if not text:
        if required:
            raise BadInputError(FILL_IN, {"field": LABELS[name]})
        return None
    return day(text, LABELS[name])


def _read_draft(
    form: FormData, queue_ids: set[int]
) -> tuple[store.Draft | None, dict[str, str | RefusedError]]:
    """The form as a draft, or the refusal of each wrong field (all of them, not the first)."""
    errors: dict[str, str | RefusedError] = {}
    values: dict[str, Any] = {}

    def field(name: str, read: Any) -> None:
        try:
            values[name] = read()
        except BadInputError as refused:
            errors[name] = refused

    field("report", lambda: form.choice("report", tuple(REPORTS), label=LABELS["report"]))
    field(
        "period",
        lambda: ReportPeriod(
            form.choice("period", [p.value for p in PERIODS], label=LABELS["period"])
        ),
    )
    field(
        "format",
        lambda: ReportFormat(
            form.choice("format", [f.value for f in FORMAT_NAMES], label=LABELS["format"])
        ),
    )
    field(
        "send_at",
        lambda: time_of_day(
            form.text("send_at", max_len=8, label=LABELS["send_at"]), LABELS["send_at"]
        ),
    )
    field(
        "recipients",
        lambda: parse_recipients(
            form.text("recipients", multiline=True, max_len=2000, label=LABELS["recipients"]),
            LABELS["recipients"],
        ),
    )
    field(
        "language",
        lambda: report_language(
            form.text("language", max_len=8, label=LABELS["language"]), LABELS["language"]
        ),
    )
    if values.get("period") is ReportPeriod.ONCE:
        field("first_day", lambda: _day(form, "first_day", required=True))
        field("last_day", lambda: _day(form, "last_day", required=True))
        field("send_on", lambda: _day(form, "send_on", required=False))
        if not errors.keys() & set(ONE_OFF_FIELDS):
            try:
                check_one_off(
                    values["first_day"],
                    values["last_day"],
                    values["send_on"],
                    (LABELS["last_day"], LABELS["send_on"]),
                )
            except BadInputError as refused:
                errors[
                    "last_day" if refused.params["field"] == LABELS["last_day"] else "send_on"
                ] = refused

    def queue() -> int | None:
        chosen = form.choice(
            "queue", [str(i) for i in queue_ids], required=False, label=LABELS["queue"]
        )
        return int(chosen) if chosen else None

    field("queue", queue)
    if errors:
        return None, errors
    return store.Draft(
        report=values["report"],
        period=values["period"],
        format=values["format"],
        recipients=values["recipients"],
        queue_id=values["queue"],
        send_at=values["send_at"],
        language=values["language"],
        first_day=values.get("first_day"),
        last_day=values.get("last_day"),
        send_on=values.get("send_on"),
    ), {}


def _typed(form: FormData) -> dict[str, str]:
    return {name: form.raw(name) or "" for name in LABELS}


def _shown(schedule: store.ScheduleView | None, rc: RequestContext) -> dict[str, str]:
    """The form's values for a schedule (a new one: the page's language, 06:00)."""
    if schedule is None:
        return {
            "report": "queues",
            "queue": "",
            "period": ReportPeriod.DAILY.value,
            "format": ReportFormat.PDF.value,
            "send_at": "06:00",
            "recipients": "",
            "language": rc.lang.code,
            "first_day": "",
            "last_day": "",
            "send_on": "",
        }
    return {
        "report": schedule.report,
        "queue": str(schedule.queue_id or ""),
        "period": schedule.period.value,
        "format": schedule.format.value,
        "send_at": schedule.send_at.strftime("%H:%M"),
        "recipients": "\n".join(schedule.recipients),
        "language": schedule.language or "",
        "first_day": schedule.first_day.isoformat() if schedule.first_day else "",
        "last_day": schedule.last_day.isoformat() if schedule.last_day else "",
        "send_on": schedule.send_on.isoformat() if schedule.send_on else "",
    }


async def _form_page(
    rc: RequestContext,
    schedule: store.ScheduleView | None,
    values: dict[str, str],
    errors: dict[str, str | RefusedError],
    status: int = 200,
) -> bytes:
    queues = await rc.db(figures.visible_queues, scope_of(rc))
    zone = await rc.db(store.centre_time_zone, rc.web.time_zone)
    shown_errors = {
        name: rc.lang.refusal(e.message, e.params) if isinstance(e, RefusedError) else e
        for name, e in errors.items()
    }
    return rc.render(
        "reports/schedule_form.html",
        status=status,
        schedule=schedule,
        values=values,
        errors=shown_errors,
        queues=queues,
        reports=REPORTS,
        periods=PERIODS,
        formats=FORMAT_NAMES,
        labels=LABELS,
        time_zone=zone,
        max_recipients=MAX_RECIPIENTS,
    )


@routes.route(PAGE, methods=["GET"], access=MANAGERS)
async def schedules_page(rc: RequestContext) -> bytes:
    manager = _manager(rc)
    schedules = await rc.db(store.list_schedules, manager)
    zone = await rc.db(store.centre_time_zone, rc.web.time_zone)
    notice = {"saved": SAVED, "deleted": DELETED}.get(rc.query().raw("done") or "")
    return rc.render(
        "reports/schedules.html",
        schedules=schedules,
        reports=REPORTS,
        periods=PERIODS,
        formats=FORMAT_NAMES,
        time_zone=zone,
        sees_all=manager.sees_all,
        notice=notice,
    )


@routes.route(PAGE + "/new", methods=["GET"], access=MANAGERS)
async def new_schedule_page(rc: RequestContext) -> bytes:
    return await _form_page(rc, None, _shown(None, rc), {})


async def _save(rc: RequestContext, schedule: store.ScheduleView | None) -> bytes:
    form = rc.form()
    queues = await rc.db(figures.visible_queues, scope_of(rc))
    allowed = {q.id for q in queues}
    if schedule is not None and schedule.queue_id is not None:
        allowed.add(schedule.queue_id)  # kept as it is; the store checks the right
    draft, errors = _read_draft(form, allowed)
    if draft is not None:
        try:
            if schedule is None:
                await rc.db(store.create_schedule, _manager(rc), draft, rc.now(), rc.web.time_zone)
            else:
                await rc.db(
                    store.update_schedule,
                    _manager(rc),
                    schedule.id,
                    draft,
                    rc.now(),
                    rc.web.time_zone,
                )
        except (ForbiddenError, NotFoundError) as refused:
            if refused.message not in (store.NOT_YOUR_QUEUE, store.NOT_THE_OWNERS_QUEUE):
                raise
            errors = {"queue": refused}
        else:
            return rc.redirect(PAGE + "?done=saved")
    return await _form_page(rc, schedule, _typed(form), errors, status=400)


@routes.route(PAGE, methods=["POST"], access=MANAGERS)
async def create_schedule(rc: RequestContext) -> bytes:
    return await _save(rc, None)


@routes.route(PAGE + "/<int:schedule_id>", methods=["GET"], access=MANAGERS)
async def edit_schedule_page(rc: RequestContext, schedule_id: int) -> bytes:
    schedule = await rc.db(store.get_schedule, _manager(rc), schedule_id)
    return await _form_page(rc, schedule, _shown(schedule, rc), {})


@routes.route(PAGE + "/<int:schedule_id>", methods=["POST"], access=MANAGERS)
async def update_schedule(rc: RequestContext, schedule_id: int) -> bytes:
    schedule = await rc.db(store.get_schedule, _manager(rc), schedule_id)
    return await _save(rc, schedule)


@routes.route(PAGE + "/<int:schedule_id>/delete", methods=["POST"], access=MANAGERS)
async def delete_schedule(rc: RequestContext, schedule_id: int) -> bytes:
    await rc.db(store.delete_schedule, _manager(rc), schedule_id)
    return rc.redirect(PAGE + "?done=deleted")
