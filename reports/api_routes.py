"""The read-only JSON API of call records and timelines (R-5.6), and the admins' page of its
keys. ``docs/api.md`` documents it for the people who write an integration.

- ``GET /api/v1/calls`` -- the call records, with the filters of ``/calls`` and keyset
  paging (``after``, ``limit``); ``next`` is the URL of the following page or null.
- ``GET /api/v1/calls/<id>`` -- one call with its timeline, recordings and other legs.

Both want an API key (``Authorization: Bearer hk_...`` or ``X-API-Key: hk_...``): without
one, or with a revoked one, the answer is 401. A key reads the calls of the queues it is
scoped to; any other call answers 404, as it does in the pages (R-7.4). The routes are
public to the guard because the key, not a browser session, signs the request in.

- ``GET /admin/api-keys`` -- admins list, make (the key is shown once) and revoke keys;
  ``hotline api-key`` does the same from the command line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from domain.enums import Role
from domain.refusals import BadInputError
from domain.texts import N_
from reports import records as core
from reports.store import api_keys
from reports.store import records as store
from web.access import RouteTable, public, roles
from web.request import RequestContext

API = "/api/v1/calls"
KEYS_PAGE = "/admin/api-keys"
DEFAULT_LIMIT = 100
NEEDS_KEY = N_("This API needs a valid API key (Authorization: Bearer <key>).")
WHY_PUBLIC = "an integration signs in with its API key, not with a browser session"

routes = RouteTable("api")
ADMINS = roles(Role.ADMIN)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def record_json(r: store.CallRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "started_at": r.started_at.isoformat(),
        "from": r.from_number,
        "to": r.to_number,
        "did": r.did,
        "queue": {"id": r.queue_id, "name": r.queue_name} if r.queue_id is not None else None,
        "agent": {"id": r.agent_id, "name": r.agent_name} if r.agent_id is not None else None,
        "direction": r.direction,
        "state": r.state,
        "total_s": r.total_s,
        "ringing_s": r.ringing_s,
        "talking_s": r.talking_s,
        "hangup_cause": r.hangup_cause,
        "overflowed": r.overflowed,
        "transferred_in": r.transferred_in,
        "transferred_out": r.transferred_out,
        "reason_path": r.reason_path,
        "rt_number": r.rt_number or None,
        "recordings": r.recordings,
    }


def _key_of(rc: RequestContext) -> str:
    given = rc.header("authorization") or ""
    scheme, _, value = given.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (rc.header("x-api-key") or "").strip()


async def _key_viewer(rc: RequestContext) -> store.Viewer | None:
    key = _key_of(rc)
    if not key:
        return None
    return await rc.db(api_keys.viewer_for_key, key, rc.now())


def _unauthorized(rc: RequestContext) -> bytes:
    rc.request.setHeader(b"WWW-Authenticate", b'Bearer realm="hotline"')
    return rc.json({"error": rc.lang.gettext(NEEDS_KEY)}, status=401)


@routes.route(API, methods=["GET"], access=public(WHY_PUBLIC, anonymous=True))
async def api_calls(rc: RequestContext) -> bytes:
    """R-5.6: a keyset page of call records, with the filters of ``/calls``."""
    viewer = await _key_viewer(rc)
    if viewer is None:
        return _unauthorized(rc)
    query = rc.query()
    flt = core.parse_call_filter(query.raw, ZoneInfo(rc.web.time_zone))
    after_text = query.raw("after")
    after = core.Cursor.decode(after_text) if after_text else None
    limit = rc.query().integer("limit", required=False, minimum=1, maximum=store.PAGE_MAX)
    page = await rc.db(store.list_calls, viewer, flt, after, limit or DEFAULT_LIMIT)
    next_url = None
    if page.next_cursor is not None:
        link = [*flt.fields, ("after", page.next_cursor.encode())]
        if limit:
            link.append(("limit", str(limit)))
        next_url = f"{API}?" + urlencode(link)
    return rc.json({"calls": [record_json(r) for r in page.rows], "next": next_url})


def _event_json(event: core.TimelineEvent) -> dict[str, Any]:
    return {"at": event.at.isoformat(), "kind": event.kind, **dict(event.detail)}


@routes.route(API + "/<int:call_id>", methods=["GET"], access=public(WHY_PUBLIC, anonymous=True))
async def api_call(rc: RequestContext, call_id: int) -> bytes:
    """R-5.6: one call with its timeline; 404 for a call of a queue outside the key's scope."""
    viewer = await _key_viewer(rc)
    if viewer is None:
        return _unauthorized(rc)
    detail = await rc.db(store.call_detail, viewer, call_id)
    return rc.json(
        {
            "call": record_json(detail.record),
            "caller_name": detail.caller_name,
            "customer": detail.customer_name or None,
            "processing_state": detail.processing_state,
            "processed_by": detail.processed_by or None,
            "note": detail.note,
            "timeline": [_event_json(e) for e in detail.events],
            "recordings": [
                {
                    "id": rec.id,
                    "started_at": rec.started_at.isoformat(),
                    "duration_s": rec.duration_s,
                    "deleted_at": _iso(rec.deleted_at),
                }
                for rec in detail.recordings
            ],
            "legs": [leg.id for leg in detail.legs],
        }
    )


# --------------------------------------------------------------------------- admins' page


async def _queues(rc: RequestContext) -> tuple[store.Choice, ...]:
    viewer = await rc.db(store.viewer_of, rc.signed_in.agent_id)
    return (await rc.db(store.filter_choices, viewer)).queues


async def _keys_page(
    rc: RequestContext,
    *,
    new_key: str = "",
    error: str = "",
    name: str = "",
    chosen: frozenset[int] = frozenset(),
    status: int = 200,
) -> bytes:
    keys = await rc.db(api_keys.list_keys)
    return rc.render(
        "records/api_keys.html",
        status=status,
        keys=keys,
        queues=await _queues(rc),
        new_key=new_key,
        error=error,
        typed_name=name,
        chosen=chosen,
    )


@routes.route(KEYS_PAGE, methods=["GET"], access=ADMINS)
async def keys_page(rc: RequestContext) -> bytes:
    return await _keys_page(rc)


@routes.route(KEYS_PAGE, methods=["POST"], access=ADMINS)
async def create_key(rc: RequestContext) -> bytes:
    """Make a key; the page shows it once (it is not stored, only its hash)."""
    form = rc.form()
    name = form.text("name", required=False, max_len=api_keys.NAME_MAX)
    # One checkbox per queue, named queue_<id>.
    chosen = frozenset(int(q.value) for q in await _queues(rc) if form.has(f"queue_{q.value}"))
    try:
        made = await rc.db(
            api_keys.create_key, name, sorted(chosen), rc.signed_in.agent_id, rc.now()
        )
    except BadInputError as refused:
        # Said on the form, with what was typed kept.
        text = rc.lang.gettext(refused.message)
        text = text % refused.params if refused.params else text
        return await _keys_page(rc, error=text, name=name, chosen=chosen, status=400)
    return await _keys_page(rc, new_key=made.key)


@routes.route(KEYS_PAGE + "/<int:key_id>/revoke", methods=["POST"], access=ADMINS)
async def revoke_key(rc: RequestContext, key_id: int) -> bytes:
    await rc.db(api_keys.revoke_key, key_id, rc.signed_in.agent_id, rc.now())
    return rc.redirect(KEYS_PAGE)
