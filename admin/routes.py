"""The administration pages, ``/admin`` (R-6.2, R-7.4): the catalog managed in the browser.

- ``GET /admin``: the sections, the centre's settings, the audit trail, import and export;
- ``GET /admin/s/<section>``: a section's records (customers: searched, a page at a time);
- ``GET /admin/s/<section>/edit?key=K`` (no key: a new record): one record's form;
- ``POST /admin/s/<section>/save``: create or update; a refusal shows the form again with
  each reason next to its key, in the user's language, and nothing saved (409);
- ``POST /admin/s/<section>/delete``: a DID, a holiday, a report schedule; a seat, a box, a
  department, a location, an IVR menu when nothing refers to it;
- ``POST /admin/agents/unlock``: forgive an agent the wrong passwords holding back his
  sign-ins;
- ``GET|POST /admin/settings``: the centre's settings;
- ``GET /admin/audit``: every change, per period, actor and record;
- ``GET|POST /admin/import``: upload a catalog, see what it would change, apply it;
- ``GET /admin/export``: the YAML ``hotline export`` writes;
- ``GET /admin/prompts``: every prompt in each language, who names it, its words, whether
  its file is there; ``/admin/prompts/play`` plays it, ``POST /admin/prompts/upload``
  replaces it with an admin's recording;
- ``GET /admin/reasons``: the queues, each leading to its reason trees;
- ``GET /admin/reasons?queue=Q``: a queue's reason trees, and ``POST
  /admin/reasons/<action>`` to add, rename, move (up, down, below another) or retire a node.

Admins change; supervisors read what belongs to their departments only
(:func:`admin.store.visible_keys`: another department's record is not found, 404); nobody
else sees any of it. Every POST carries the session's CSRF token (``web.guard``). The rules are the
catalog's (``admin.store`` loads each record through ``db.catalog``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import yaml

from admin import prompt_files, store
from admin.sections import (
    BY_NAME,
    CHOICES,
    ELSEWHERE,
    KEY_LABELS,
    NEW_ROWS,
    PAGE_SIZE,
    PICK_LIMIT,
    PICKERS,
    ROW_CHOICES,
    ROWS,
    SEARCHED,
    SECTIONS,
    SETTINGS_TITLE,
    SUGGESTED,
    TURNS,
    VALUE_ROWS,
    Section,
    duration_text,
    may_write,
    page_count,
    picked_yaml,
    record_key,
    rows_yaml,
    turn_rows,
    turns_yaml,
)
from db.catalog import Reason
from db.catalog.problems import FIELD_REASON
from db.catalog.records import SECTION_SLOTS, SETTING_KEYS, Slot, key_lines
from domain.enums import ReasonDirection, Role
from domain.prompts import MAX_PROMPT_NAME, PRODUCT_PROMPTS, PROMPT_LANGUAGES
from domain.refusals import BadInputError, NotFoundError
from domain.texts import N_
from web.access import RouteTable, roles
from web.files import send_file
from web.request import RequestContext, forgive_if_unlocked

HERE = Path(__file__).resolve().parent
routes = RouteTable("admin", templates=HERE / "templates")
READERS = roles(Role.ADMIN, Role.SUPERVISOR)
ADMINS = roles(Role.ADMIN)

NO_SECTION = N_("There is no such section.")
NO_RECORD = N_("There is no such record (any more).")
BAD_DATE = N_("A date is YYYY-MM-DD.")
SAVED = N_("Saved.")
UNCHANGED = N_("Saved: nothing changed.")
DELETED = N_("Deleted.")
IMPORTED = N_("Imported.")
RETIRED = N_("Retired: a call chose it, so it is kept for that call but offered no more.")
REASON_DELETED = N_("Deleted: no call chose it.")
UNLOCKED = N_("Unlocked: the next sign-in is tried at once.")
RECORDED = N_("The recording replaces the prompt from the next call on.")
NO_PROMPT_FILE = N_("This prompt has no sound file yet.")
DIRECTIONS = (
    (ReasonDirection.INBOUND, N_("Inbound calls")),
    (ReasonDirection.OUTBOUND, N_("Outbound calls")),
)
MAX_IMPORT_CHARS = 20_000_000


def _section(name: str) -> Section:
    section = BY_NAME.get(name)
    if section is None:
        raise NotFoundError(NO_SECTION)
    return section


def _translate(rc: RequestContext, problems: Mapping[str, list[Reason]]) -> dict[str, list[str]]:
    return {key: [r.render(rc.lang.gettext) for r in reasons] for key, reasons in problems.items()}


def _text(value: Any) -> str:
    """A record's single value as a form shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _yaml(value: Any) -> str:
    """A list of children as the form's YAML text (as a file writes it)."""
    if value in (None, [], {}):
        return ""
    return str(yaml.safe_dump(value, allow_unicode=True, default_flow_style=None, sort_keys=False))


PICKED = ".picked"  # a hidden field's suffix: this list key was picked from check boxes
ROWS_SENT = ".rows"  # a hidden field's suffix: this list key came as a table of N rows
MAX_ROWS = 500


def _table(text: str, column: str = "") -> list[dict[str, str]] | None:
    """A list of flat children's YAML text as a table's rows (cells as text); with
    ``column``, a list of plain values, each the row's one cell. None when it is no such
    list (the form then shows the YAML text)."""
    try:
        value = yaml.safe_load(text or "[]")
    except yaml.YAMLError:
        return None
    if value is None:
        return []
    if column:
        if not isinstance(value, list) or any(isinstance(v, list | dict) for v in value):
            return None
        return [{column: "" if v is None else str(v)} for v in value]
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        return None
    rows = []
    for child in value:
        if any(isinstance(v, list | dict) for v in child.values()):
            return None
        rows.append({str(k): "" if v is None else str(v) for k, v in child.items()})
    return rows


def _turns(text: str) -> list[dict[str, str]] | None:
    """The rota's YAML text as the table's rows (:func:`admin.sections.turn_rows`)."""
    try:
        return turn_rows(yaml.safe_load(text or "[]"))
    except yaml.YAMLError:
        return None


def _cell_problems(
    rc: RequestContext, section: str, refusal: store.RecordRefusedError, text: str
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """A refusal's problems by key, but those of the rota's rows by cell instead
    (``"support_turns.3.opens"``; ``"support_turns.3."``: the row as a whole): the text
    the rows make has a line per row (:func:`admin.sections.turns_yaml`), so a problem's
    line tells its row (and "first at line N" names the row, counted from 1), and a problem
    of one key of the row is told next to that key, without the key's name, and one that
    names a value of the row (an unknown agent) next to the cell holding it."""
    problems = _translate(rc, refusal.problems)
    if section != TURNS[0] or TURNS[1] not in problems:
        return problems, {}
    lines = key_lines(section)
    start = next(line for line, key in lines.items() if key == TURNS[1])
    end = min((line for line in lines if line > start), default=start + 10**9)
    columns = ROWS[TURNS]
    rows = _turns(text) or []
    cells: dict[str, list[str]] = {}
    rest: list[str] = []
    for line, reason in refusal.lines:
        if not start <= line < end:
            continue
        key = reason.param("key") if reason.template == FIELD_REASON else None
        inner = reason.param("reason")
        row = line - start - 1
        first = reason.param("first")  # "duplicate ... (first at line N)": the row there
        if isinstance(first, int) and start < first < end:
            params = {**dict(reason.params), "first": first - start}
            reason = Reason(reason.template, tuple(params.items()))
        if key is None and 0 <= row < len(rows) and reason.param("value") is not None:
            named = str(reason.param("value"))
            key = next((c for c in columns if rows[row].get(c) == named), None)
            inner = reason if key else None
        if line > start and key in columns and inner is not None:
            cells.setdefault(f"{TURNS[1]}.{row}.{key}", []).append(inner.render(rc.lang.gettext))
        elif line > start:
            cells.setdefault(f"{TURNS[1]}.{row}.", []).append(reason.render(rc.lang.gettext))
        else:
            rest.append(reason.render(rc.lang.gettext))
    problems = {k: v for k, v in problems.items() if k != TURNS[1]}
    if rest:
        problems[TURNS[1]] = rest
    return problems, cells


def _chosen(text: str) -> list[str]:
    """The values of a list key's YAML text (a picker ticks them); none when it is not a
    list of plain values."""
    try:
        value = yaml.safe_load(text or "[]")
    except yaml.YAMLError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def form_values(section: str, record: Mapping[str, Any]) -> dict[str, str]:
    """A stored record as the text its form shows, key by key."""
    values: dict[str, str] = {}
    for slot in SECTION_SLOTS[section]:
        if (section, slot.key) in ELSEWHERE:
            continue
        if slot.optional and slot.key == "password":
            values[slot.key] = ""
        elif slot.nested:
            values[slot.key] = _yaml(record.get(slot.key))
        else:
            values[slot.key] = _text(record.get(slot.key))
    return values


def _entered(rc: RequestContext, section: str) -> dict[str, str]:
    """What was typed into a record's form: every key of the section (a check box left
    empty is false)."""
    form = rc.form()
    entered: dict[str, str] = {}
    for slot in SECTION_SLOTS[section]:
        if (section, slot.key) in ELSEWHERE:
            continue  # left out: kept as it is
        if slot.is_bool:
            entered[slot.key] = "true" if form.raw(slot.key) == "true" else "false"
            continue
        columns = ROWS.get((section, slot.key))
        count = form.integer(slot.key + ROWS_SENT, required=False, minimum=0, maximum=MAX_ROWS)
        if columns and count is not None:
            rows = [
                {c: form.text(f"{slot.key}.{i}.{c}", required=False) for c in columns}
                for i in range(count)
            ]
            if (section, slot.key) == TURNS:
                entered[slot.key] = turns_yaml(rows)
            else:
                entered[slot.key] = rows_yaml(rows, plain=(section, slot.key) in VALUE_ROWS)
            continue
        if slot.key in PICKERS and form.raw(slot.key + PICKED) == "1":
            entered[slot.key] = picked_yaml(form.many(slot.key))
            continue
        text = form.text(slot.key, required=False, max_len=1_000_000, multiline=True, strip=False)
        entered[slot.key] = text if slot.nested else text.strip()
    return entered


async def _departments(rc: RequestContext) -> frozenset[str] | None:
    """A supervisor's departments (he sees only what belongs to them,
    :func:`admin.store.visible_keys`); None: an admin sees all."""
    if rc.signed_in.role is Role.ADMIN:
        return None
    return await rc.db(store.supervised_departments, rc.signed_in.agent_id)


def _common(rc: RequestContext) -> dict[str, Any]:
    return {
        "sections": SECTIONS,
        "label": lambda key: rc.lang.gettext(KEY_LABELS[key]) if key in KEY_LABELS else key,
        "writer": may_write(rc.signed_in.role),
        "settings_title": SETTINGS_TITLE,
    }


# --------------------------------------------------------------------------- index, sections


@routes.route("/admin", methods=["GET"], access=READERS)
async def admin_index(rc: RequestContext) -> bytes:
    return rc.render("admin_index.html", **_common(rc))


@routes.route("/admin/s/<name>", methods=["GET"], access=READERS)
async def section_page(rc: RequestContext, name: str) -> bytes:
    section = _section(name)
    query = rc.query()
    search = query.text("q", required=False, max_len=200)
    page = query.integer("page", required=False, minimum=1, maximum=1_000_000) or 1
    listing = await rc.db(
        store.section_records, name, search=search, page=page, departments=await _departments(rc)
    )
    pages = page_count(listing.total) if section.searchable else 1
    return rc.render(
        "admin_section.html",
        section=section,
        records=[(record_key(section, r), r) for r in listing.records],
        total=listing.total,
        search=search,
        page=page,
        pages=pages,
        page_size=PAGE_SIZE,
        page_link=lambda n: f"/admin/s/{name}?" + urlencode({"q": search, "page": n}),
        edit_link=lambda key: f"/admin/s/{name}/edit?key={quote(key, safe='')}",
        cell=_text,
        notice=_notice(rc),
        **_common(rc),
    )


def _notice(rc: RequestContext) -> str:
    notices = {
        "saved": SAVED,
        "unchanged": UNCHANGED,
        "deleted": DELETED,
        "imported": IMPORTED,
        "retired": RETIRED,
        "reason_deleted": REASON_DELETED,
        "unlocked": UNLOCKED,
        "recorded": RECORDED,
    }
    done = rc.query().raw("done") or ""
    return rc.lang.gettext(notices[done]) if done in notices else ""


async def _record_page(
    rc: RequestContext,
    section: Section,
    *,
    key: str,
    values: Mapping[str, str],
    problems: Mapping[str, list[str]] | None = None,
    cells: Mapping[str, list[str]] | None = None,
    status: int = 200,
    deleting: bool = False,
) -> bytes:
    slots: tuple[Slot, ...] = SECTION_SLOTS[section.name]
    kinds = {PICKERS[s.key] for s in slots if s.nested and s.key in PICKERS}
    kinds |= {s.field.ref for s in slots if s.field and s.field.ref in SUGGESTED}
    if section.name == "ivr_menus":  # an option leads to a queue or a menu
        kinds |= {"queue", "menu"}
    found = {k: rc.query().text(f"find.{k}", required=False, max_len=200) for k in SEARCHED}
    named: dict[str, list[str]] = {}  # what the record names is offered whatever the search
    for s in slots:
        kind = PICKERS.get(s.key) if s.nested else (s.field.ref if s.field else None)
        if kind in SEARCHED:
            text = values.get(s.key) or ""
            named.setdefault(kind, []).extend(_chosen(text) if s.nested else [text])
    if section.name == TURNS[0]:
        rows = _turns(values.get(TURNS[1]) or "") or []
        named.setdefault("agent", []).extend(r["agent"] for r in rows if r.get("agent"))
    choices = await rc.db(store.ref_choices, sorted(k for k in kinds if k), found, named)
    throttle = rc.web.sign_in_throttle
    held_back_s = throttle.held_back_s(key) if throttle and key and section.name == "agents" else 0
    if held_back_s:  # unlocked in another web process, maybe
        left = await forgive_if_unlocked(rc, key, at_once=True)
        held_back_s = held_back_s if left is None else left
    return rc.render(
        "admin_record.html",
        status=status,
        section=section,
        key=key,
        slots=slots,
        values=values,
        problems=problems or {},
        deleting=deleting,
        held_back_s=held_back_s,
        options=lambda key: CHOICES.get((section.name, key)),
        table_columns=lambda key: ROWS.get((section.name, key)),
        table=lambda key, text: (
            _turns(text)
            if (section.name, key) == TURNS
            else _table(
                text, ROWS[(section.name, key)][0] if (section.name, key) in VALUE_ROWS else ""
            )
        ),
        cells=cells or {},
        new_rows=lambda key, have: NEW_ROWS.get(key, 3) if not have else 3,
        rows_sent=ROWS_SENT,
        elsewhere=lambda key: (section.name, key) in ELSEWHERE,
        row_choices=ROW_CHOICES,
        pickers=PICKERS,
        picked=PICKED,
        suggested=SUGGESTED,
        datalists=sorted(SUGGESTED | {"agent"}),
        choices=choices.offered,
        more=choices.more,
        unmatched=choices.unmatched,
        found=found,
        pick_limit=PICK_LIMIT,
        searched=SEARCHED,
        chosen=_chosen,
        notice=_notice(rc),
        **_common(rc),
    )


@routes.route("/admin/s/<name>/edit", methods=["GET"], access=READERS)
async def record_page(rc: RequestContext, name: str) -> bytes:
    section = _section(name)
    key = rc.query().text("key", required=False, max_len=1000)
    if not key:
        if not may_write(rc.signed_in.role):
            raise NotFoundError(NO_RECORD)
        return await _record_page(
            rc, section, key="", values=form_values(name, store.new_record(name))
        )
    record = await rc.db(store.find_record, name, key)
    if record is None or not await rc.db(store.may_see, name, key, await _departments(rc)):
        raise NotFoundError(NO_RECORD)  # a supervisor: not of his departments
    return await _record_page(rc, section, key=key, values=form_values(name, record))


@routes.route("/admin/s/<name>/save", methods=["POST"], access=ADMINS)
async def save_record(rc: RequestContext, name: str) -> bytes:
    section = _section(name)
    entered = _entered(rc, name)
    key = rc.form().text("key", required=False, max_len=1000)
    try:
        saved = await rc.db(store.save_record, rc.signed_in.agent_id, name, entered, rc.now())
    except store.RecordRefusedError as refusal:
        problems, cells = _cell_problems(rc, name, refusal, entered.get(TURNS[1], ""))
        return await _record_page(
            rc, section, key=key, values=entered, problems=problems, cells=cells, status=409
        )
    done = "saved" if saved.changed else "unchanged"
    return rc.redirect(f"/admin/s/{name}/edit?key={quote(saved.key, safe='')}&done={done}")


@routes.route("/admin/s/<name>/delete", methods=["POST"], access=ADMINS)
async def delete_record(rc: RequestContext, name: str) -> bytes:
    section = _section(name)
    key = rc.form().text("key", max_len=1000)
    try:
        await rc.db(store.delete_record, rc.signed_in.agent_id, name, key, rc.now())
    except store.RecordRefusedError as refusal:
        record = await rc.db(store.find_record, name, key)
        values = form_values(name, record) if record is not None else {}
        problems = _translate(rc, refusal.problems)
        return await _record_page(
            rc, section, key=key, values=values, problems=problems, status=409, deleting=True
        )
    return rc.redirect(f"/admin/s/{name}?done=deleted")


@routes.route("/admin/agents/unlock", methods=["POST"], access=ADMINS)
async def unlock_agent(rc: RequestContext) -> bytes:
    """Forgive an agent the wrong passwords that hold back the sign-ins of his login
    (``web.sign_in_throttle``), audited. The throttle lives in each web process's memory:
    this forgives in the process that serves the page at once, and the audit entry tells
    the others, which ask for it when they next hold the login back."""
    login = rc.form().text("key", max_len=64)
    if await rc.db(store.find_record, "agents", login) is None:
        raise NotFoundError(NO_RECORD)
    throttle = rc.web.sign_in_throttle
    forgiven = throttle.forgive(login) if throttle else 0
    await rc.db(store.audit_unlock, rc.signed_in.agent_id, login, forgiven, rc.now())
    return rc.redirect(f"/admin/s/agents/edit?key={quote(login, safe='')}&done=unlocked")


# --------------------------------------------------------------------------- settings


@routes.route("/admin/settings", methods=["GET"], access=READERS)
async def settings_page(rc: RequestContext) -> bytes:
    stored = await rc.db(store.settings)
    return _settings(rc, {k: stored.get(k, "") for k in SETTING_KEYS})


def _settings(
    rc: RequestContext,
    values: Mapping[str, str],
    problems: Mapping[str, list[str]] | None = None,
    status: int = 200,
) -> bytes:
    return rc.render(
        "admin_settings.html",
        status=status,
        keys=SETTING_KEYS,
        values=values,
        problems=problems or {},
        notice=_notice(rc),
        **_common(rc),
    )


@routes.route("/admin/settings", methods=["POST"], access=ADMINS)
async def save_settings(rc: RequestContext) -> bytes:
    form = rc.form()
    entered = {k: form.text(k, required=False, max_len=1000) for k in SETTING_KEYS}
    try:
        changed = await rc.db(store.save_settings, rc.signed_in.agent_id, entered, rc.now())
    except store.RecordRefusedError as refusal:
        return _settings(rc, entered, _translate(rc, refusal.problems), status=409)
    return rc.redirect("/admin/settings?done=" + ("saved" if changed else "unchanged"))


# --------------------------------------------------------------------------- audit trail


def _day(rc: RequestContext, name: str) -> datetime | None:
    text = rc.query().text(name, required=False, max_len=10)
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise BadInputError(BAD_DATE) from None
    return datetime.combine(day, time(0), ZoneInfo(rc.web.time_zone))


@routes.route("/admin/audit", methods=["GET"], access=READERS)
async def audit_page(rc: RequestContext) -> bytes:
    query = rc.query()
    since, until = _day(rc, "since"), _day(rc, "until")
    actor = query.text("actor", required=False, max_len=64)
    target = query.text("target", required=False, max_len=200)
    page = query.integer("page", required=False, minimum=1, maximum=1_000_000) or 1
    entries, total = await rc.db(
        store.audit_entries,
        since=since,
        until=until + timedelta(days=1) if until else None,
        actor=actor,
        target=target,
        page=page,
        departments=await _departments(rc),
    )
    filters = {
        "since": query.raw("since") or "",
        "until": query.raw("until") or "",
        "actor": actor,
        "target": target,
    }
    return rc.render(
        "admin_audit.html",
        entries=entries,
        total=total,
        filters=filters,
        page=page,
        pages=page_count(total),
        page_link=lambda n: "/admin/audit?" + urlencode({**filters, "page": n}),
        shown=lambda value: _text(value) if not isinstance(value, list | dict) else _yaml(value),
        **_common(rc),
    )


# ------------------------------------------------------------------- pause and login history


@routes.route("/admin/history", methods=["GET"], access=READERS)
async def history_page(rc: RequestContext) -> bytes:
    """Who paused (which type, how long, paid) and who logged in at which seat, per period;
    a supervisor sees his departments' agents (R-4.6)."""
    query = rc.query()
    kind = query.choice("kind", ("pauses", "logins"), required=False) or "pauses"
    zone = ZoneInfo(rc.web.time_zone)
    today = rc.now().astimezone(zone).date()
    since = _day(rc, "since") or datetime.combine(today - timedelta(days=6), time(0), zone)
    until = _day(rc, "until") or datetime.combine(today, time(0), zone)
    departments = await _departments(rc)
    reader = store.pause_history if kind == "pauses" else store.login_history
    rows = await rc.db(reader, since, until + timedelta(days=1), departments)
    return rc.render(
        "admin_history.html",
        kind=kind,
        rows=rows,
        since=since.date().isoformat(),
        until=until.date().isoformat(),
        limit=store.HISTORY_LIMIT,
        duration=duration_text,
        **_common(rc),
    )


# --------------------------------------------------------------------------- import, export


@routes.route("/admin/import", methods=["GET"], access=ADMINS)
async def import_page(rc: RequestContext) -> bytes:
    return rc.render("admin_import.html", text="", plans=None, problems=[], **_common(rc))


@routes.route("/admin/import", methods=["POST"], access=ADMINS)
async def import_catalog(rc: RequestContext) -> bytes:
    form = rc.form()
    text = form.text("text", required=False, max_len=MAX_IMPORT_CHARS, multiline=True, strip=False)
    uploaded = rc.request.args.get(b"file") or []
    if not text.strip() and uploaded and uploaded[0]:
        try:
            text = uploaded[0].decode("utf-8")
        except UnicodeDecodeError:
            raise BadInputError(N_("The file is not UTF-8 text.")) from None
    apply = form.raw("apply") == "1"
    try:
        if apply:
            plans = await rc.db(store.apply_import, rc.signed_in.agent_id, text, rc.now())
        else:
            plans = await rc.db(store.preview_import, text)
    except store.RecordRefusedError as refusal:
        problems = _translate(rc, refusal.problems).get("", [])
        return rc.render(
            "admin_import.html", status=409, text=text, plans=None, problems=problems, **_common(rc)
        )
    return rc.render(
        "admin_import.html",
        text=text,
        plans=plans,
        applied=apply,
        problems=[],
        **_common(rc),
    )


@routes.route("/admin/export", methods=["GET"], access=ADMINS)
async def export_catalog(rc: RequestContext) -> bytes:
    text = await rc.db(store.export_yaml)
    rc.request.setHeader(b"Content-Type", b"application/yaml; charset=utf-8")
    rc.request.setHeader(b"Content-Disposition", b'attachment; filename="centre.yaml"')
    rc.request.setHeader(b"Cache-Control", b"no-store")
    return text.encode("utf-8")


# --------------------------------------------------------------------------- reason trees


def _reason_page(
    rc: RequestContext,
    queue: str,
    trees: Mapping[ReasonDirection, tuple[store.TreeNode, ...]],
    *,
    failed: str = "",
    entered: Mapping[str, str] | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> bytes:
    """The editor: each direction's tree nested, each live node with its forms; a refused
    change shows its reasons under the form it came from (``failed``), as typed."""
    children: dict[str, dict[int | None, list[store.TreeNode]]] = {}
    targets: dict[int, list[tuple[int, str]]] = {}
    for direction, nodes in trees.items():
        below: dict[int | None, list[store.TreeNode]] = {}
        paths: dict[int, str] = {}
        for node in nodes:
            below.setdefault(node.parent_id, []).append(node)
            parent = paths.get(node.parent_id) if node.parent_id is not None else None
            paths[node.id] = f"{parent} › {node.label}" if parent else node.label
        children[direction.value] = below
        live = [n for n in nodes if not n.retired]
        for node in live:
            inside = {node.id}
            for other in live:  # depth first: a descendant comes after its parent
                if other.parent_id in inside:
                    inside.add(other.id)
            targets[node.id] = [(n.id, paths[n.id]) for n in live if n.id not in inside]
    return rc.render(
        "admin_reasons.html",
        status=status,
        queue=queue,
        directions=DIRECTIONS,
        children=children,
        targets=targets,
        failed=failed,
        entered=entered or {},
        problems=problems or [],
        notice=_notice(rc),
        **_common(rc),
    )


async def _trees(
    rc: RequestContext, queue: str
) -> dict[ReasonDirection, tuple[store.TreeNode, ...]]:
    try:
        return await rc.db(store.reason_trees, queue)
    except store.RecordRefusedError:
        raise NotFoundError(NO_RECORD) from None


@routes.route("/admin/reasons", methods=["GET"], access=READERS)
async def reasons_page(rc: RequestContext) -> bytes:
    """A queue's reason trees; without ``?queue=``, the queues the reader may see, each
    leading to its trees."""
    queue = rc.query().text("queue", required=False, max_len=200)
    departments = await _departments(rc)
    if not queue:
        listing = await rc.db(store.section_records, "queues", departments=departments)
        return rc.render(
            "admin_reason_queues.html",
            queues=[(str(r.get("code", "")), str(r.get("name", ""))) for r in listing.records],
            link=lambda code: f"/admin/reasons?queue={quote(code, safe='')}",
            **_common(rc),
        )
    if not await rc.db(store.may_see, "queues", queue, departments):
        raise NotFoundError(NO_RECORD)
    return _reason_page(rc, queue, await _trees(rc, queue))


@routes.route("/admin/reasons/<action>", methods=["POST"], access=ADMINS)
async def edit_reasons(rc: RequestContext, action: str) -> bytes:
    if action not in store.REASON_ACTIONS:
        raise NotFoundError(NO_RECORD)
    form = rc.form()
    queue = form.text("queue", max_len=200)
    direction = ReasonDirection(form.choice("direction", [d.value for d in ReasonDirection]))
    node = form.integer("node", required=False, minimum=1)
    parent = form.integer("parent", required=False, minimum=1)
    label = form.text("label", required=False, max_len=1000)
    code = form.text("code", required=False, max_len=1000)
    try:
        outcome = await rc.db(
            store.edit_reason_tree,
            rc.signed_in.agent_id,
            queue,
            direction,
            action,
            rc.now(),
            node_id=node,
            parent_id=parent,
            label=label,
            code=code,
        )
    except store.RecordRefusedError as refusal:
        where = node if action != "add" else parent
        failed = f"{action}:{direction.value}:{where or 'top'}"
        problems = [p for ps in _translate(rc, refusal.problems).values() for p in ps]
        entered = {"label": label, "code": code}
        trees = await _trees(rc, queue)
        return _reason_page(
            rc, queue, trees, failed=failed, entered=entered, problems=problems, status=409
        )
    done = {"retired": "retired", "deleted": "reason_deleted"}.get(outcome, "saved")
    anchor = f"#node-{node}" if node and outcome == "saved" else f"#reasons-{direction.value}"
    return rc.redirect(f"/admin/reasons?queue={quote(queue, safe='')}&done={done}{anchor}")


# --------------------------------------------------------------------------- prompts


def _prompt_rows(rc: RequestContext, uses: tuple[store.PromptUse, ...]) -> list[dict[str, Any]]:
    """One row per prompt and language: its words (the catalog's, else Hotline's own in that
    language), who names it, and whether its sound file is there."""
    rows = []
    for use in uses:
        for language in PROMPT_LANGUAGES:
            words = use.texts.get(language)
            if words is None and use.product:
                translated = rc.web.catalogues.language(language)
                words = translated.gettext(PRODUCT_PROMPTS[use.name])
            try:
                path = prompt_files.prompt_path(rc.web.sounds_dir, language, use.name)
                exists = path.is_file()
            except prompt_files.PromptFileError:
                exists = False
            rows.append(
                {
                    "name": use.name,
                    "language": language,
                    "used_by": use.used_by,
                    "product": use.product,
                    "words": words,
                    "exists": exists,
                    "id": f"{use.name.replace('/', '--')}-{language}",
                }
            )
    return rows


async def _prompts_page(
    rc: RequestContext, *, failed: str = "", problem: str = "", status: int = 200
) -> bytes:
    uses = await rc.db(store.prompt_uses)
    departments = await _departments(rc)
    if departments is not None:  # a supervisor: what his queues, menus and boxes name
        visible = await rc.db(store.visible_keys, departments)
        uses = tuple(store.seen_by(use, visible) for use in uses)
        uses = tuple(use for use in uses if use.used_by or use.product or use.texts)
    rows = _prompt_rows(rc, uses)
    missing_only = rc.query().raw("missing") == "1"
    shown = [r for r in rows if not r["exists"]] if missing_only else rows
    return rc.render(
        "admin_prompts.html",
        status=status,
        rows=shown,
        missing=sum(1 for r in rows if not r["exists"]),
        total=len(rows),
        missing_only=missing_only,
        has_sounds=rc.web.sounds_dir is not None,
        failed=failed,
        problem=problem,
        play_link=lambda r: (
            "/admin/prompts/play?" + urlencode({"name": r["name"], "language": r["language"]})
        ),
        notice=_notice(rc),
        **_common(rc),
    )


@routes.route("/admin/prompts", methods=["GET"], access=READERS)
async def prompts_page(rc: RequestContext) -> bytes:
    """Every prompt callers may hear, in each language: its words, who names it, whether
    its file is there (missing ones first to see with ``?missing=1``), to play or replace."""
    return await _prompts_page(rc)


@routes.route("/admin/prompts/play", methods=["GET"], access=READERS)
async def play_prompt(rc: RequestContext) -> bytes:
    query = rc.query()
    name = query.text("name", max_len=MAX_PROMPT_NAME)
    language = query.choice("language", PROMPT_LANGUAGES)
    try:
        path = prompt_files.prompt_path(rc.web.sounds_dir, language, name)
    except prompt_files.PromptFileError:
        raise NotFoundError(NO_PROMPT_FILE) from None
    return await send_file(rc, path, missing=NO_PROMPT_FILE)


@routes.route("/admin/prompts/upload", methods=["POST"], access=ADMINS)
async def upload_prompt(rc: RequestContext) -> bytes:
    """An admin's recording replaces a prompt's file in one language, converted by sox to
    what Asterisk plays; audited."""
    form = rc.form()
    name = form.text("name", max_len=MAX_PROMPT_NAME)
    language = form.choice("language", PROMPT_LANGUAGES)
    uploaded = rc.request.args.get(b"file") or []
    data = uploaded[0] if uploaded else b""
    try:
        target = prompt_files.prompt_path(rc.web.sounds_dir, language, name)
        await prompt_files.save_recording(rc.web.clock, data, target)
    except prompt_files.PromptFileError as refusal:
        failed = f"{name}:{language}"
        problem = (
            rc.lang.gettext(refusal.message) % refusal.params
            if refusal.params
            else rc.lang.gettext(refusal.message)
        )
        return await _prompts_page(rc, failed=failed, problem=problem, status=409)
    await rc.db(
        store.audit_prompt_recording, rc.signed_in.agent_id, name, language, len(data), rc.now()
    )
    anchor = f"#prompt-{name.replace('/', '--')}-{language}"
    return rc.redirect(f"/admin/prompts?done=recorded{anchor}")
