"""The Active call form on the agent's desktop (R-2.6 .. R-2.13): pages, fragments, actions.

Thin routes over ``agent_desktop.store.call_form`` (the rules are the pure core
``agent_desktop.call_form``). The form is one panel of the desktop page (``/desktop/call``
extends ``desktop.html``); ``static/call_form.js`` opens it by itself when the agent's call
connects (the ``hotline:call`` DOM event of ``hotline.js``) and swaps its parts with HTML
fragments fetched from the routes below, so nothing reloads the page. Without JavaScript
every action is an ordinary form that lands back on ``/call-form/<call_id>``.

Request kinds: a page load (``Accept: text/html``) gets a whole page or a redirect; anything
else (fetch) gets the HTML fragment of the part it changed. A refusal of the form's rules
(``CallFormError``) is shown next to the field it concerns, with status 422 for Save and 409
for the other actions; the guard turns wrong fields into 400 and forged requests into 403.

Who may open a call's form: the agent who took it, and, once it has ended, an off-air agent
with a right to its queue who loaded it through recovery (R-2.13: a call whose agent left it
unsaved) while they stay off-air; an on-air colleague cannot open it by its URL. A call still
connected belongs to its agent alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent_desktop import call_form as core
from agent_desktop.routes import desktop as desktop_routes
from agent_desktop.status_line import mm_ss
from agent_desktop.store import call_form as cp
from agent_desktop.store import desk as desk_store
from agent_desktop.store.call_form import CallFormError
from dialplan.store import transfers as transfer_store
from domain.refusals import NotFoundError
from domain.texts import N_
from web.access import CALL_CENTRE, RouteTable
from web.forms import FormData
from web.i18n import Language
from web.request import RequestContext
from web.sessions import DeskView, SignedInUser

HERE = Path(__file__).resolve().parent.parent
routes = RouteTable("call_form", templates=HERE / "templates")

CALL_DESK = "/desktop/call"
PANEL_TEMPLATE = "call_form_panel.html"
PAGE_TEMPLATE = "call_form_desk.html"
# The reason tree is at most this deep (db.catalog.MAX_REASON_DEPTH is 10); fields
# reason_0 .. reason_N carry the chosen path, one select per level.
MAX_REASON_LEVELS = 16
SEARCH_MAX_CHARS = 100
SEARCH_LABEL = N_("Search for the customer")  # the label errors name the field by
# Activities in which the desk's current call has its form open (R-2.6: on answer, and
# while it is processed afterwards); a ringing call has no form yet.
_FORM_ACTIVITIES = frozenset({"in_call", "processing", "outbound"})

NO_UNPROCESSED = N_("There is no unprocessed call in your queues.")
SHOWING_UNPROCESSED = N_("Showing unprocessed call from %(when)s")
# Issue 16: after a transfer the form says where the call went and what is left to do.
TRANSFERRED_TO_QUEUE = N_(
    "The call was transferred to the queue %(queue)s, where the caller waits for an agent. "
    "Save the form to finish the call."
)
TRANSFERRED_TO_AGENT = N_(
    "The call was transferred to %(agent)s, who is offered it first. "
    "Save the form to finish the call."
)
OVERFLOWED_QUEUE = N_("%(queue)s (overflowed call)")
INACTIVE_ONE = N_(
    "The caller's number belongs to the inactive customer %(name)s. Re-activate them to work"
    " with them, or process the call as for an unknown caller."
)
SEARCH_EMPTY = N_("Type a name, an address, a contract number or a phone number.")

# Where a refusal is shown; anything else goes to the top of the form.
_FIELDS = frozenset({"customer", "reason", "note", "rt_number", "replace_number", "title"})


# --------------------------------------------------------------------------- reading fields


@dataclass(frozen=True)
class Entered:
    """What the agent entered in the Save form, shown again with a refusal."""

    reason_path: tuple[int, ...] = ()
    note: str = ""
    rt_number: str = ""
    customer_unknown: bool = False
    assign_to_location_operator: bool = False
    operator_location_id: int | None = None
    replace_number: bool = False

    def call_form(self) -> core.CallForm:
        return core.CallForm(
            customer_unknown=self.customer_unknown,
            assign_to_location_operator=self.assign_to_location_operator,
            operator_location_id=self.operator_location_id,
            reason_path=self.reason_path,
            note=self.note,
            rt_number=self.rt_number,
            replace_number=self.replace_number,
        )


def reason_path(form: FormData) -> tuple[int, ...]:
    """``reason_0``, ``reason_1``, ... down to the first level left empty."""
    path: list[int] = []
    for level in range(MAX_REASON_LEVELS):
        node_id = form.integer(f"reason_{level}", required=False, minimum=1)
        if node_id is None:
            break
        path.append(node_id)
    return tuple(path)


def _ticked(form: FormData, name: str) -> bool:
    return form.choice(name, ("1",), required=False) == "1"


def entered_fields(form: FormData) -> Entered:
    """The Save form's fields. Note and RT number are checked by the core (R-2.9), so that
    a wrong value is refused next to its field rather than as a bad request."""
    return Entered(
        reason_path=reason_path(form),
        note=form.raw("note") or "",
        rt_number=form.raw("rt_number") or "",
        customer_unknown=_ticked(form, "customer_unknown"),
        assign_to_location_operator=_ticked(form, "assign_to_location_operator"),
        operator_location_id=form.integer("operator_location_id", required=False, minimum=1),
        replace_number=_ticked(form, "replace_number"),
    )


def _stored_entries(view: cp.CallFormView) -> Entered:
    return Entered(
        reason_path=view.reason.path,
        note=view.note,
        rt_number=view.rt_number or "",
        customer_unknown=view.customer_unknown,
        assign_to_location_operator=view.assigned_to_location_operator,
    )


# --------------------------------------------------------------------------- presenting


def queue_text(lang: Language, label: str) -> str:
    """The queue's name, with "(overflowed call)" in the agent's language (R-1.6)."""
    if label.endswith(core.OVERFLOWED_SUFFIX):
        name = label[: -len(core.OVERFLOWED_SUFFIX)]
        return lang.gettext(OVERFLOWED_QUEUE) % {"queue": name}
    return label


def match_notice(lang: Language, match: core.CallerMatch | None) -> str:
    if match is None or not match.notice:
        return ""
    if match.kind is core.MatchKind.INACTIVE_ONLY and len(match.choices) == 1:
        return lang.gettext(INACTIVE_ONE) % {"name": match.choices[0].name}
    return lang.gettext(match.notice)


def when_text(at: datetime, time_zone: str) -> str:
    """R-2.13's DD.MM.YYYY HH:MM in the centre's time zone, whatever the language."""
    return at.astimezone(ZoneInfo(time_zone)).strftime("%d.%m.%Y %H:%M")


def problems_by_field(lang: Language, problems: Iterable[core.FormProblem]) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for problem in problems:
        where = problem.field if problem.field in _FIELDS else "form"
        shown.setdefault(where, []).append(lang.gettext(problem.message))
    return shown


@dataclass(frozen=True)
class ProcessCallText:
    at: datetime
    caller: str
    callee: str
    duration: str  # mm:ss for a connected call, "" otherwise
    outbound: bool = False  # the callee is then the international digits dialled


def _process_rows(entry: cp.ProcessEntry) -> list[ProcessCallText]:
    return [
        ProcessCallText(
            c.at,
            c.caller,
            c.callee,
            mm_ss(c.duration_s) if c.duration_s is not None else "",
            outbound=c.direction == "out",
        )
        for c in entry.calls
    ]


@dataclass
class FormPage:
    """The template context of one call's form (``call_form.html`` and its parts)."""

    state: cp.FormState
    entered: Entered
    problems: dict[str, list[str]] = field(default_factory=dict)
    notice: str = ""
    query: str = ""
    hits: tuple[cp.CustomerHit, ...] | None = None
    search_hint: str = ""
    search_more: str = ""  # the list was cut off: refine the search (issue 16)

    def context(self, rc: RequestContext) -> dict[str, Any]:
        view, match = self.state.view, self.state.match
        unknown = match is not None and match.kind is not core.MatchKind.MATCHED
        user = rc.signed_in
        desk = user.desk
        return {
            "call": view,
            "call_id": view.call_id,
            "editable": view.processing_state == "pending",
            "connected": view.answered_at is not None and view.ended_at is None,
            # Saved by a colleague while this agent still processes it: Save releases them.
            "release_only": view.processing_state == "done"
            and desk is not None
            and desk.activity == "processing"
            and desk.current_call_id == view.call_id,
            "customer_name": core.UNKNOWN_NAME if unknown else view.customer_name,
            "unknown_caller": unknown or view.customer_id is None,
            "queue_text": queue_text(rc.lang, view.queue_label),
            "party_number": view.callee_number if view.direction == "out" else view.caller_number,
            "match": match if unknown else None,
            "match_notice": match_notice(rc.lang, match),
            "reason": self.state.reason,
            "operators": self.state.operators,
            "processes": [(e.process, _process_rows(e)) for e in self.state.processes],
            "joinable": self.state.joinable,
            "entered": self.entered,
            "problems": self.problems,
            "notice": self.notice,
            "query": self.query,
            "hits": self.hits,
            "search_hint": self.search_hint,
            "note_max_chars": core.NOTE_MAX_CHARS,
            "search_max_chars": SEARCH_MAX_CHARS,
            "search_more": self.search_more,
        }


# --------------------------------------------------------------------------- answering


def _user(rc: RequestContext) -> tuple[int, frozenset[int]]:
    user: SignedInUser = rc.signed_in
    return user.agent_id, user.queue_ids


async def _state(
    rc: RequestContext,
    call_id: int,
    path: tuple[int, ...] | None = None,
    *,
    with_match: bool = True,
) -> cp.FormState:
    agent_id, queue_ids = _user(rc)
    return await rc.db(cp.form_state, call_id, agent_id, queue_ids, path, with_match)


async def _desk_page(rc: RequestContext, status: int, **panel: Any) -> bytes:
    context = await desktop_routes.desktop_context(rc)
    context.update(panel_context(**panel))
    return rc.render(PAGE_TEMPLATE, status=status, **context)


def panel_context(
    *,
    form: dict[str, Any] | None = None,
    saved: cp.SavedCall | None = None,
    message: str = "",
    error: str = "",
) -> dict[str, Any]:
    """The panel: a call's form, or (no call) the last save and the recovery button."""
    return {"form": form, "saved": saved, "panel_message": message, "panel_error": error}


def _answer(rc: RequestContext, page: FormPage, status: int = 200) -> bytes:
    """A fragment for fetch; the caller renders a whole page for a page load."""
    return rc.render(PANEL_TEMPLATE, status=status, **panel_context(form=page.context(rc)))


def current_call(desk: DeskView | None) -> int | None:
    """The call whose form the desk shows by itself (R-2.6), if any."""
    if desk is None or desk.current_call_id is None or desk.activity not in _FORM_ACTIVITIES:
        return None
    return desk.current_call_id


async def _current_panel(rc: RequestContext) -> dict[str, Any]:
    call_id = current_call(rc.signed_in.desk)
    if call_id is not None:
        try:
            state = await _state(rc, call_id)
        except NotFoundError:
            state = None
        if state is not None and state.view.answered_at is not None:
            page = FormPage(state, _stored_entries(state.view))
            return panel_context(form=page.context(rc))
    return panel_context()


# --------------------------------------------------------------------------- the panel


@routes.route(CALL_DESK, methods=["GET"], access=CALL_CENTRE, read_with_user=desk_store.desk_page)
async def call_desk(rc: RequestContext) -> bytes:
    """The desktop with the Active call form of the agent's current call (R-2.6).

    ``transferred=<target>`` (where the transfer dialog lands, issue 16): the form says
    where the call went and what is left to do."""
    context = await desktop_routes.desktop_context(rc)
    context.update(await _current_panel(rc))
    transferred = rc.query().raw("transferred")
    if transferred:
        notice = await _transferred_notice(rc, transferred[:40])
        if notice and context["form"] is not None:
            context["form"]["notice"] = notice
        elif notice:
            context["panel_message"] = notice
    return rc.render(PAGE_TEMPLATE, **context)


async def _transferred_notice(rc: RequestContext, target: str) -> str | None:
    found = await rc.read(transfer_store.target_name, target)
    if found is None:
        return None
    kind, name = found
    if kind == "queue":
        return rc.lang.gettext(TRANSFERRED_TO_QUEUE) % {"queue": name}
    return rc.lang.gettext(TRANSFERRED_TO_AGENT) % {"agent": name}


@routes.route("/call-form/panel", methods=["GET"], access=CALL_CENTRE)
async def current_panel(rc: RequestContext) -> bytes:
    """The panel alone, for a page that loads it with fetch."""
    return rc.render(PANEL_TEMPLATE, **await _current_panel(rc))


@routes.route(
    "/call-form/<int:call_id>",
    methods=["GET"],
    access=CALL_CENTRE,
    read_with_user=desk_store.desk_page,
)
async def call_page(rc: RequestContext, call_id: int) -> bytes:
    """One call's form as a page: after a recovery (``recovered=1`` shows R-2.13's notice),
    and where the form's actions land without JavaScript (``q`` searches customers)."""
    form = rc.query()
    state = await _state(rc, call_id)
    page = FormPage(state, _stored_entries(state.view))
    if form.raw("recovered") == "1":
        page.notice = rc.lang.gettext(SHOWING_UNPROCESSED) % {
            "when": when_text(state.view.started_at, rc.web.time_zone)
        }
    if form.has("q"):
        await _search_into(rc, page, call_id, form)
    return await _desk_page(rc, 200, form=page.context(rc))


@routes.route("/call-form/<int:call_id>/form", methods=["GET"], access=CALL_CENTRE)
async def call_fragment(rc: RequestContext, call_id: int) -> bytes:
    """The form alone: what the desktop loads when the call connects (R-2.6)."""
    state = await _state(rc, call_id)
    return _answer(rc, FormPage(state, _stored_entries(state.view)))


# --------------------------------------------------------------------------- customer R-2.6/7


async def _search_into(rc: RequestContext, page: FormPage, call_id: int, form: FormData) -> None:
    text = form.text("q", required=False, max_len=SEARCH_MAX_CHARS, label=SEARCH_LABEL)
    page.query = text
    if not text:
        page.hits, page.search_hint = (), rc.lang.gettext(SEARCH_EMPTY)
        return
    agent_id, queue_ids = _user(rc)
    hits = await rc.db(cp.search, call_id, agent_id, queue_ids, text)
    # One more than is shown was asked for: its presence means the list was cut (issue 16).
    page.hits = hits[: cp.SEARCH_LIMIT]
    if len(hits) > cp.SEARCH_LIMIT:
        page.search_more = rc.lang.gettext(cp.SEARCH_CUT_OFF) % {"shown": cp.SEARCH_LIMIT}


@routes.route("/call-form/<int:call_id>/customers", methods=["GET"], access=CALL_CENTRE)
async def search_results(rc: RequestContext, call_id: int) -> bytes:
    """Customer search (R-2.7): the results list, each with its Pick button."""
    state = await _state(rc, call_id, with_match=False)
    page = FormPage(state, Entered())
    await _search_into(rc, page, call_id, rc.query())
    return rc.render("call_form_search.html", form=page.context(rc))


async def _customer_changed(rc: RequestContext, call_id: int, fn: Any, *args: Any) -> bytes:
    agent_id, queue_ids = _user(rc)
    try:
        await rc.db(fn, call_id, agent_id, queue_ids, *args)
    except CallFormError as refused:
        state = await _state(rc, call_id)
        page = FormPage(state, Entered(), problems_by_field(rc.lang, refused.problems))
        page.problems.setdefault("customer", []).extend(page.problems.pop("form", []))
        if rc.wants_html:
            return await _desk_page(rc, 409, form=page.context(rc))
        return rc.render("call_form_customer.html", status=409, form=page.context(rc))
    if rc.wants_html:
        return rc.redirect(f"/call-form/{call_id}")
    state = await _state(rc, call_id)
    return rc.render("call_form_customer.html", form=FormPage(state, Entered()).context(rc))


@routes.route("/call-form/<int:call_id>/customer", methods=["POST"], access=CALL_CENTRE)
async def pick_customer(rc: RequestContext, call_id: int) -> bytes:
    """Hold a customer from the search or the pick list in the form (R-2.6, R-2.7)."""
    form = rc.form()
    customer_id = form.required_integer("customer_id", minimum=1)
    contact_id = form.integer("contact_id", required=False, minimum=1)
    return await _customer_changed(rc, call_id, cp.pick, customer_id, contact_id)


@routes.route("/call-form/<int:call_id>/reactivate", methods=["POST"], access=CALL_CENTRE)
async def reactivate(rc: RequestContext, call_id: int) -> bytes:
    """Re-activate the caller's inactive customer and hold them (R-2.6, optional)."""
    customer_id = rc.form().required_integer("customer_id", minimum=1)
    return await _customer_changed(rc, call_id, cp.reactivate_and_pick, customer_id, rc.now())


# --------------------------------------------------------------------------- reasons


@routes.route("/call-form/<int:call_id>/reasons", methods=["GET"], access=CALL_CENTRE)
async def reasons(rc: RequestContext, call_id: int) -> bytes:
    """The reason selects for the levels chosen so far: the next level to choose, and the
    levels below a changed one cleared (R-2.8)."""
    state = await _state(rc, call_id, reason_path(rc.query()), with_match=False)
    return rc.render("call_form_reasons.html", form=FormPage(state, Entered()).context(rc))


# --------------------------------------------------------------------------- processes


@routes.route("/call-form/<int:call_id>/processes", methods=["POST"], access=CALL_CENTRE)
async def create_process(rc: RequestContext, call_id: int) -> bytes:
    """A follow-up process from the call; the list shows each process's calls (R-2.11)."""
    title = rc.form().raw("title") or ""
    agent_id, queue_ids = _user(rc)
    return await _process_change(
        rc, call_id, "title", cp.add_process, call_id, agent_id, queue_ids, title, rc.now()
    )


@routes.route("/call-form/<int:call_id>/processes/join", methods=["POST"], access=CALL_CENTRE)
async def join_a_process(rc: RequestContext, call_id: int) -> bytes:
    """This call joins an open process of its customer: a later call about the same matter."""
    process_id = rc.form().required_integer("process_id", minimum=1)
    agent_id, queue_ids = _user(rc)
    return await _process_change(
        rc, call_id, "join", cp.join_process, call_id, agent_id, queue_ids, process_id, rc.now()
    )


async def _process_change(rc: RequestContext, call_id: int, field: str, *action: Any) -> bytes:
    """Run a change of the call's processes; refusals show next to ``field``."""
    problems: dict[str, list[str]] = {}
    status = 200
    try:
        await rc.db(*action)
    except CallFormError as refused:
        problems = problems_by_field(rc.lang, refused.problems)
        problems.setdefault(field, []).extend(problems.pop("form", []))
        status = 409
    if rc.wants_html and status == 200:
        return rc.redirect(f"/call-form/{call_id}")
    state = await _state(rc, call_id)
    page = FormPage(state, Entered(), problems)
    if rc.wants_html:
        return await _desk_page(rc, status, form=page.context(rc))
    return rc.render("call_form_processes.html", status=status, form=page.context(rc))


# --------------------------------------------------------------------------- save


@routes.route("/call-form/<int:call_id>/save", methods=["POST"], access=CALL_CENTRE)
async def save_form(rc: RequestContext, call_id: int) -> bytes:
    """Save (R-2.12): refusals next to their fields (422); done, the agent is on-air again."""
    entered = entered_fields(rc.form())
    agent_id, queue_ids = _user(rc)
    try:
        saved = await rc.db(cp.save, call_id, agent_id, queue_ids, entered.call_form(), rc.now())
    except CallFormError as refused:
        state = await _state(rc, call_id, entered.reason_path)
        page = FormPage(state, entered, problems_by_field(rc.lang, refused.problems))
        if rc.wants_html:
            return await _desk_page(rc, 422, form=page.context(rc))
        return _answer(rc, page, status=422)
    if rc.wants_html:
        return rc.redirect(CALL_DESK)
    return rc.render(PANEL_TEMPLATE, **panel_context(saved=saved))


# --------------------------------------------------------------------------- recovery


@routes.route("/call-form/recover", methods=["POST"], access=CALL_CENTRE)
async def recover(rc: RequestContext) -> bytes:
    """Load the last unprocessed call of the agent's queues, with the notice (R-2.13)."""
    agent_id, _queues = _user(rc)
    try:
        found = await rc.db(
            cp.last_unprocessed_call, agent_id, rc.now(), time_zone=rc.web.time_zone
        )
    except CallFormError as refused:
        text = rc.lang.gettext(refused.messages[0])
        if rc.wants_html:
            return await _desk_page(rc, 409, error=text)
        return rc.render(PANEL_TEMPLATE, status=409, **panel_context(error=text))
    if found is None:
        text = rc.lang.gettext(NO_UNPROCESSED)
        if rc.wants_html:
            return await _desk_page(rc, 200, message=text)
        return rc.render(PANEL_TEMPLATE, **panel_context(message=text))
    if rc.wants_html:
        return rc.redirect(f"/call-form/{found.call_id}?recovered=1")
    state = await _state(rc, found.call_id)
    page = FormPage(state, _stored_entries(state.view))
    page.notice = rc.lang.gettext(SHOWING_UNPROCESSED) % {
        "when": when_text(found.started_at, rc.web.time_zone)
    }
    return _answer(rc, page)
