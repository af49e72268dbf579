"""The service status page ``/status`` and ``/healthz`` of one Hotline process.

Both are public: an admin or a monitoring probe checks them without an account, and they
show no personal data, only counts, the listeners the process started and the state of
its AMI connection (``rc.web.process``, filled by the composition root).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from twisted.logger import Logger

from db.errors import DatabaseError
from hotline.status import CentreCounts, centre_counts
from web.access import RouteTable, public
from web.request import RequestContext

_log = Logger()
HERE = Path(__file__).resolve().parent
routes = RouteTable("status", templates=HERE / "templates")


async def _counts(rc: RequestContext) -> tuple[CentreCounts | None, str | None]:
    try:
        return await rc.db(centre_counts), None
    except DatabaseError as exc:
        _log.warn("status: database unavailable: {error}", error=str(exc).splitlines()[0])
        return None, "The database is not reachable."


def _telephony(rc: RequestContext) -> str:
    """The AMI connection as an admin reads it: transfers and outbound calls need it."""
    ami = rc.web.ami
    return "not configured" if ami is None else str(ami.state.value)


def _listeners(rc: RequestContext) -> dict[str, Any]:
    listeners = asdict(rc.web.process)
    listeners.pop("version", None)
    return listeners


@routes.route("/healthz", methods=["GET"], access=public("monitoring probes it", anonymous=True))
async def healthz(rc: RequestContext) -> bytes:
    found, error = await _counts(rc)
    rc.request.setHeader(b"Content-Type", b"application/json")
    rc.request.setHeader(b"Cache-Control", b"no-store")
    if error or found is None:
        rc.request.setResponseCode(503)
        return json.dumps({"status": "unavailable", "error": error}).encode()
    body = {
        "status": "ok",
        "version": rc.web.process.version,
        "database": asdict(found),
        "listeners": _listeners(rc),
        "telephony": _telephony(rc),
    }
    return json.dumps(body).encode()


@routes.route("/status", methods=["GET"], access=public("admins check the service"))
async def status_page(rc: RequestContext) -> bytes:
    found, error = await _counts(rc)
    return rc.render(
        "status.html",
        status=503 if error else 200,
        version=rc.web.process.version,
        counts=found,
        error=error,
        listeners=rc.web.process,
        telephony=_telephony(rc),
    )
