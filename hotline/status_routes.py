"""The service status page ``/status`` and ``/healthz`` of one Hotline process.

Both are public: a load balancer or a monitoring probe checks them without an account. A
stranger (not signed in) learns only what a probe needs: whether the process serves, its
database answers and its telephony (AMI) connection is up. Version, schema, counts and the
listeners' host:port are for people signed in (R-7.4): they tell an attacker what runs
where. Neither shows personal data. The listeners are ``rc.web.process``, filled by the
composition root.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from twisted.logger import Logger

from db.errors import DatabaseError
from hotline.status import CentreCounts, centre_counts, schema_revision
from web.access import RouteTable, public
from web.request import RequestContext

_log = Logger()
HERE = Path(__file__).resolve().parent
routes = RouteTable("status", templates=HERE / "templates")
UNREACHABLE = "The database is not reachable."


async def _counts(rc: RequestContext) -> tuple[CentreCounts | None, str | None]:
    """The counts for someone signed in; for a stranger only whether the database answers
    (its counts would cost several queries a probe could repeat)."""
    try:
        if rc.user is None:
            await rc.db(schema_revision)
            return None, None
        return await rc.db(centre_counts), None
    except DatabaseError as exc:
        _log.warn("status: database unavailable: {error}", error=str(exc).splitlines()[0])
        return None, UNREACHABLE


def _telephony(rc: RequestContext) -> str:
    """The AMI connection as an admin reads it: transfers and outbound calls need it."""
    ami = rc.web.ami
    return "not configured" if ami is None else str(ami.state.value)


def _listeners(rc: RequestContext) -> dict[str, Any]:
    listeners = asdict(rc.web.process)
    listeners.pop("version", None)
    return listeners


@routes.route("/healthz", methods=["GET"], access=public("monitoring probes it"))
async def healthz(rc: RequestContext) -> bytes:
    found, error = await _counts(rc)
    rc.request.setHeader(b"Content-Type", b"application/json")
    rc.request.setHeader(b"Cache-Control", b"no-store")
    if error:
        rc.request.setResponseCode(503)
        return json.dumps({"status": "unavailable", "error": error}).encode()
    body: dict[str, Any] = {"status": "ok", "telephony": _telephony(rc)}
    if rc.user is not None and found is not None:
        body.update(
            version=rc.web.process.version,
            database=asdict(found),
            listeners=_listeners(rc),
        )
    return json.dumps(body).encode()


@routes.route("/status", methods=["GET"], access=public("admins check the service"))
async def status_page(rc: RequestContext) -> bytes:
    found, error = await _counts(rc)
    signed_in = rc.user is not None
    return rc.render(
        "status.html",
        status=503 if error else 200,
        version=rc.web.process.version if signed_in else None,
        counts=found,
        error=error,
        listeners=rc.web.process if signed_in else None,
        telephony=_telephony(rc),
    )
