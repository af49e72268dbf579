"""The call records API (R-5.6): keys, scope, filters, paging, timelines; the admins' key
page and ``hotline api-key``."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import treq
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Agent, AuditLog
from db.passwords import hash_password
from domain.enums import CallState, RingOutcome, Role
from hotline.cli import main
from reports.store import api_keys
from tests.reports.records.calls import add_call
from tests.support.centre import PASSWORD, StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.deferreds import result_of
from tests.support.web import BASE, Browser
from tests.support.web_fixtures import START


def _api(browser: Browser, path: str, key: str | None) -> tuple[int, Any, Any]:
    headers = {"Accept": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    d = browser.stub.get(BASE + path, headers=headers)
    browser.stub.flush()
    response = result_of(d)
    body = result_of(treq.content(response))
    return response.code, json.loads(body), response.headers


def _key(db: InlineDBRunner, queue_ids: list[int]) -> str:
    return db.run_sync(lambda s: api_keys.create_key(s, "CRM", queue_ids, None, START)).key


@pytest.fixture
def calls(db: InlineDBRunner, centre: StaffCentre) -> dict[str, int]:
    def make(s: Session) -> dict[str, int]:
        eva = centre.agents["eva"]
        made = {
            f"support{i}": add_call(
                s,
                centre.support,
                START - timedelta(minutes=10 * (i + 1)),
                agent_id=eva,
                rings=((eva, 6, 10, RingOutcome.ANSWERED),),
            )
            for i in range(5)
        }
        made["abandoned"] = add_call(
            s,
            centre.support,
            START - timedelta(minutes=5),
            state=CallState.ABANDONED_QUEUE,
            answered_after_s=None,
        )
        made["billing"] = add_call(s, centre.billing, START - timedelta(minutes=1))
        return made

    return db.run_sync(make)


def test_no_key_a_wrong_key_or_a_revoked_key_gets_401(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser, calls: dict[str, int]
) -> None:
    status, body, headers = _api(browser, "/api/v1/calls", None)
    assert status == 401
    assert "API key" in body["error"]
    assert headers.getRawHeaders("www-authenticate") == ['Bearer realm="hotline"']
    assert _api(browser, "/api/v1/calls", "hk_not-a-key")[0] == 401
    assert _api(browser, f"/api/v1/calls/{calls['support0']}", None)[0] == 401
    key = _key(db, [centre.support])
    assert _api(browser, "/api/v1/calls", key)[0] == 200
    db.run_sync(lambda s: api_keys.revoke_key(s, 1, None, START))
    assert _api(browser, "/api/v1/calls", key)[0] == 401


def test_a_key_reads_only_its_queues_with_filters_and_keyset_paging(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser, calls: dict[str, int]
) -> None:
    key = _key(db, [centre.support])
    status, body, _ = _api(browser, "/api/v1/calls", key)
    assert status == 200
    ids = [c["id"] for c in body["calls"]]
    assert calls["billing"] not in ids
    assert ids == [calls["abandoned"], *(calls[f"support{i}"] for i in range(5))]
    first = body["calls"][1]
    assert first["queue"] == {"id": centre.support, "name": "Technical support"}
    assert first["agent"]["name"] == "Eva Dvořák"
    assert first["ringing_s"] == 10 and first["talking_s"] == 90
    assert _api(browser, f"/api/v1/calls/{calls['billing']}", key)[0] == 404
    # The filters of /calls, and keyset pages.
    status, body, _ = _api(browser, "/api/v1/calls?state=answered&limit=2", key)
    seen = [c["id"] for c in body["calls"]]
    while body["next"]:
        assert "after=" in body["next"] and "state=answered" in body["next"]
        status, body, _ = _api(browser, body["next"], key)
        seen.extend(c["id"] for c in body["calls"])
    assert seen == [calls[f"support{i}"] for i in range(5)]
    assert _api(browser, "/api/v1/calls?from=nonsense", key)[0] == 400


def test_a_calls_timeline_as_json(
    db: InlineDBRunner, centre: StaffCentre, browser: Browser, calls: dict[str, int]
) -> None:
    key = _key(db, [centre.support, centre.billing])
    status, body, _ = _api(browser, f"/api/v1/calls/{calls['support0']}", key)
    assert status == 200
    assert body["call"]["id"] == calls["support0"]
    kinds = [e["kind"] for e in body["timeline"]]
    assert kinds == ["started", "queue_entered", "ring", "answered", "ended"]
    ring = body["timeline"][2]
    assert ring["agent"] == "Eva Dvořák" and ring["seconds"] == 10
    assert ring["outcome"] == "answered"


@pytest.fixture
def admin(db: InlineDBRunner) -> int:
    def make(s: Session) -> int:
        agent = Agent(
            login="ada",
            name="Ada Admin",
            password_hash=hash_password(PASSWORD, n=2**10),
            role=Role.ADMIN,
        )
        s.add(agent)
        s.flush()
        return agent.id

    return db.run_sync(make)


def test_an_admin_makes_and_revokes_keys_on_the_page(
    db: InlineDBRunner,
    centre: StaffCentre,
    browser: Browser,
    other_browser: Browser,
    calls: dict[str, int],
    admin: int,
) -> None:
    other_browser.signed_in("sue")
    assert other_browser.get("/admin/api-keys").status == 403
    browser.signed_in("ada")
    assert browser.get("/admin/api-keys").status == 200
    refused = browser.post("/admin/api-keys", {"name": "CRM"})
    assert refused.status == 400
    assert "Choose at least one queue" in refused.text
    assert 'value="CRM"' in refused.text  # what was typed stays
    made = browser.post("/admin/api-keys", {"name": "CRM", f"queue_{centre.support}": "yes"})
    assert made.status == 200
    key = made.text.split('id="new-key"', 1)[1].split("<code>", 1)[1].split("</code>", 1)[0]
    assert key.startswith("hk_")
    assert _api(browser, "/api/v1/calls", key)[0] == 200
    stored = db.run_sync(lambda s: s.scalars(select(AuditLog.action)).all())
    assert stored == ["api_key.create"]
    # Only the hash is kept: the key itself is nowhere in the database.
    assert key not in json.dumps([k.__dict__ for k in db.run_sync(api_keys.list_keys)], default=str)
    key_id = db.run_sync(api_keys.list_keys)[0].id
    assert browser.post(f"/admin/api-keys/{key_id}/revoke").status == 303
    assert "Revoked" in browser.get("/admin/api-keys").text
    assert _api(browser, "/api/v1/calls", key)[0] == 401


def test_the_cli_makes_lists_and_revokes_keys(
    db_url: str,
    db: InlineDBRunner,
    centre: StaffCentre,
    browser: Browser,
    calls: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HOTLINE_DATABASE_URL", db_url)
    assert main(["api-key", "create", "--name", "CRM", "--queue", "support"]) == 0
    out = capsys.readouterr().out
    key = out.split(": ", 1)[1].split()[0]
    status, body, _ = _api(browser, "/api/v1/calls", key)
    assert status == 200 and calls["billing"] not in [c["id"] for c in body["calls"]]
    assert main(["api-key", "list"]) == 0
    listed = capsys.readouterr().out
    assert "CRM" in listed and "Technical support" in listed and key not in listed
    assert main(["api-key", "create", "--name", "X", "--queue", "nope"]) == 1
    assert "There is no queue nope." in capsys.readouterr().err
    assert main(["api-key", "revoke", "1"]) == 0
    assert _api(browser, "/api/v1/calls", key)[0] == 401
