"""The reason-tree editor (R-2.8, R-6.2): an admin adds, renames, moves and retires the nodes
of a queue's tree on ``/admin/reasons``; a node keeps its id through a rename or a move (the
calls that chose it keep it), a node a call chose is retired rather than deleted, the rules
are a file's (refused with the same reasons, nothing changed), every change is audited;
supervisors read, agents see nothing, every form needs the CSRF token."""

from __future__ import annotations

import html
import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.store import find_record
from db.catalog import export_catalog, load_catalog
from db.models import AuditLog, Call, Queue, ReasonNode
from domain.enums import CallState, Direction
from tests.support.db import InlineDBRunner
from tests.support.time import T0
from tests.support.web import Browser

TREE = """
queues:
  - code: TECH
    name: Tech
    reasons:
      in:
        - label: Internet
          children:
            - {label: Outage, code: T-1}
            - {label: Slow, code: T-2}
        - {label: Other, code: T-9}
      out:
        - {label: Follow-up, code: O-1}
"""


@pytest.fixture
def tree(db: InlineDBRunner) -> dict[str, int]:
    """TECH's tree loaded; the id of each node by label."""

    def load(session: Session) -> dict[str, int]:
        load_catalog(session, TREE)
        rows = session.execute(select(ReasonNode.label, ReasonNode.id))
        return {label: node_id for label, node_id in rows}

    return db.run_sync(load)


def _reasons(db: InlineDBRunner) -> dict[str, object]:
    record = db.run_sync(find_record, "queues", "TECH")
    assert record is not None
    reasons: dict[str, object] = record["reasons"]
    return reasons


def _node(db: InlineDBRunner, node_id: int) -> tuple[int | None, str, str, int] | None:
    def read(session: Session) -> tuple[int | None, str, str, int] | None:
        node = session.get(ReasonNode, node_id)
        return None if node is None else (node.parent_id, node.label, node.code, node.position)

    return db.run_sync(read)


def _choose(db: InlineDBRunner, node_id: int) -> None:
    """A call that chose the reason ``node_id``."""

    def add(session: Session) -> None:
        queue_id = session.scalar(select(Queue.id).where(Queue.code == "TECH"))
        session.add(
            Call(
                uniqueid="1.1",
                direction=Direction.INBOUND,
                state=CallState.ANSWERED,
                started_at=T0,
                queue_id=queue_id,
                reason_node_id=node_id,
            )
        )

    db.run_sync(add)


def _edit(browser: Browser, action: str, direction: str = "in", **fields: object) -> object:
    data = {"queue": "TECH", "direction": direction, **{k: str(v) for k, v in fields.items()}}
    return browser.post(f"/admin/reasons/{action}", data)


def test_an_admin_adds_renames_moves_and_orders_nodes_which_keep_their_ids(
    browser: Browser, db: InlineDBRunner, admin: int, tree: dict[str, int]
) -> None:
    browser.signed_in("ada")
    queue = browser.get("/admin/s/queues/edit?key=TECH")
    assert 'href="/admin/reasons?queue=TECH"' in queue.text
    page = browser.get("/admin/reasons?queue=TECH")
    assert page.status == 200 and f'id="node-{tree["Outage"]}"' in page.text

    added = _edit(browser, "add", parent=tree["Internet"], label="Router", code="T-3")
    assert added.status == 303  # type: ignore[attr-defined]
    assert added.location.startswith("/admin/reasons?queue=TECH&done=saved")  # type: ignore[attr-defined]
    assert _edit(browser, "add", label="Billing", code="B-1").status == 303  # type: ignore[attr-defined]
    assert _edit(browser, "rename", node=tree["Slow"], label="Slow line", code="T-2b").status == 303  # type: ignore[attr-defined]
    assert _edit(browser, "move", node=tree["Outage"], parent="").status == 303  # type: ignore[attr-defined]
    assert _edit(browser, "up", node=tree["Outage"]).status == 303  # type: ignore[attr-defined]
    assert _reasons(db)["in"] == [
        {
            "label": "Internet",
            "children": [
                {"label": "Slow line", "code": "T-2b"},
                {"label": "Router", "code": "T-3"},
            ],
        },
        {"label": "Other", "code": "T-9"},
        {"label": "Outage", "code": "T-1"},
        {"label": "Billing", "code": "B-1"},
    ]
    assert _node(db, tree["Slow"]) == (tree["Internet"], "Slow line", "T-2b", 0)  # same id
    assert _node(db, tree["Outage"])[:2] == (None, "Outage")  # type: ignore[index]
    assert _reasons(db)["out"] == [{"label": "Follow-up", "code": "O-1"}]  # untouched

    def audit(session: Session) -> list[tuple[str, str, list[str]]]:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id))
        return [(r.action, r.target, json.loads(r.detail)["changed"]) for r in rows]

    assert db.run_sync(audit) == [("admin.queues.reasons", "queues:TECH", ["reasons"])] * 5


def test_a_node_a_call_chose_is_retired_one_no_call_chose_deleted(
    browser: Browser, db: InlineDBRunner, admin: int, tree: dict[str, int]
) -> None:
    _choose(db, tree["Slow"])
    browser.signed_in("ada")
    page = browser.get("/admin/reasons?queue=TECH").text
    assert f'id="retire-{tree["Slow"]}">Retire<' in page
    assert f'id="retire-{tree["Outage"]}">Delete<' in page
    deleted = _edit(browser, "retire", node=tree["Outage"])
    assert "done=reason_deleted" in deleted.location  # type: ignore[attr-defined]
    assert _node(db, tree["Outage"]) is None
    retired = _edit(browser, "retire", node=tree["Internet"])  # Slow below it: kept
    assert "done=retired" in retired.location  # type: ignore[attr-defined]
    shown = browser.get(retired.location).text  # type: ignore[attr-defined]
    assert "a call chose it, so it is kept for that call" in shown
    assert "retired: kept for the calls that chose it" in shown
    assert _node(db, tree["Slow"]) is not None
    assert _reasons(db)["in"] == [{"label": "Other", "code": "T-9"}]
    assert "Internet" not in db.run_sync(export_catalog)
    # Named again, the retired node comes back with its id.
    assert _edit(browser, "add", label="Internet", code="I").status == 303  # type: ignore[attr-defined]
    assert _node(db, tree["Internet"])[1:3] == ("Internet", "I")  # type: ignore[index]
    assert _node(db, tree["Internet"])[3] >= 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("action", "fields", "reason"),
    [
        ("add", {"label": "Other", "code": "X"}, "duplicate reason label at this level 'Other'"),
        ("add", {"label": "Modem"}, "reason 'Modem' has no children, so it needs a code"),
        ("rename", {"node": "Outage", "label": "Slow", "code": "T-1"}, "duplicate reason"),
        ("move", {"node": "Internet", "parent": "Outage"}, "A reason cannot move below itself."),
        ("up", {"node": "Internet"}, "This reason is first already."),
        ("down", {"node": "Other"}, "This reason is last already."),
    ],
)
def test_a_change_the_rules_refuse_is_told_and_changes_nothing(
    browser: Browser,
    db: InlineDBRunner,
    admin: int,
    tree: dict[str, int],
    action: str,
    fields: dict[str, str],
    reason: str,
) -> None:
    browser.signed_in("ada")
    before = db.run_sync(export_catalog)
    ids = {k: str(tree[v]) if k in ("node", "parent") else v for k, v in fields.items()}
    refused = _edit(browser, action, **ids)
    assert refused.status == 409  # type: ignore[attr-defined]
    assert reason in html.unescape(refused.text)  # type: ignore[attr-defined]
    assert 'id="reasons-error"' in refused.text  # type: ignore[attr-defined]
    assert db.run_sync(export_catalog) == before


def test_the_last_child_retired_leaves_a_parent_that_needs_a_code(
    browser: Browser, db: InlineDBRunner, admin: int, tree: dict[str, int]
) -> None:
    browser.signed_in("ada")
    assert _edit(browser, "retire", node=tree["Outage"]).status == 303  # type: ignore[attr-defined]
    refused = _edit(browser, "retire", node=tree["Slow"])
    assert refused.status == 409  # type: ignore[attr-defined]
    shown = html.unescape(refused.text)  # type: ignore[attr-defined]
    assert "reason 'Internet' has no children, so it needs a code" in shown
    assert _node(db, tree["Slow"]) is not None


def test_the_editor_in_czech(
    browser: Browser, db: InlineDBRunner, admin: int, tree: dict[str, int]
) -> None:
    browser.signed_in("ada")
    browser.post("/account/language", {"language": "cs"})
    page = browser.get("/admin/reasons?queue=TECH").text
    assert "Stromy důvodů" in page and "Příchozí hovory" in page
    refused = _edit(browser, "up", node=tree["Internet"])
    assert "Tento důvod už je první." in refused.text  # type: ignore[attr-defined]


def test_supervisors_read_agents_see_nothing_and_forms_need_the_token(
    browser: Browser,
    db: InlineDBRunner,
    departments: None,
    admin: int,
    tree: dict[str, int],
) -> None:
    db.run_sync(lambda s: load_catalog(s, "queues: [{code: TECH, name: Tech, agents: [eva]}]"))
    browser.signed_in("eva")
    assert browser.get("/admin/reasons?queue=TECH").status == 403
    browser.signed_in("sue")
    page = browser.get("/admin/reasons?queue=TECH")
    assert page.status == 200 and "Outage" in page.text and 'id="retire-' not in page.text
    assert _edit(browser, "retire", node=tree["Outage"]).status == 403  # type: ignore[attr-defined]
    assert browser.get("/admin/reasons?queue=NONE").status == 404
    browser.signed_in("ada")
    data = {"queue": "TECH", "direction": "in", "node": str(tree["Outage"])}
    assert browser.post("/admin/reasons/retire", data, csrf=False).status == 403
    assert _node(db, tree["Outage"]) is not None
