"""A queue's support-turn rota (R-1.11, R-6.2) on its form: a table, a row per member of a
day's turn, with empty rows for new ones; no YAML typed. What the rows make goes through the
loader of ``hotline load``: a value it refuses is refused with the same words, next to the
cell of the row it is about (in the reader's language), and nothing is saved."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy.orm import Session

from admin.routes import form_values
from admin.store import find_record
from db.catalog import CatalogError, export_catalog, load_catalog
from db.catalog.problems import FIELD_REASON, Reason
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from web.i18n import Catalogues

ROTA = """
queues:
  - code: TECH
    name: Tech
    support_turns_enabled: true
    support_turns:
      - weekday: mon
        opens: '07:00'
        closes: '19:00'
        members:
          - {agent: eva, priority: 3}
          - {number: +420 603 555 010, priority: 1}
      - {weekday: sat, opens: '09:00', closes: '12:00'}
"""
COLUMNS = ("weekday", "opens", "closes", "agent", "number", "priority")


@pytest.fixture
def rota(db: InlineDBRunner, centre: StaffCentre) -> dict[str, str]:
    """TECH with its rota; the rest of its form as the page would send it."""
    db.run_sync(lambda s: load_catalog(s, ROTA))
    record = db.run_sync(find_record, "queues", "TECH")
    values = form_values("queues", record)  # type: ignore[arg-type]
    return {k: v for k, v in values.items() if v != "false" and k != "support_turns"}


def _rows(*rows: tuple[str, ...]) -> dict[str, str]:
    form = {"support_turns.rows": str(len(rows))}
    for i, row in enumerate(rows):
        form.update({f"support_turns.{i}.{c}": v for c, v in zip(COLUMNS, row, strict=True)})
    return form


def _loader_reason(db: InlineDBRunner, text: str) -> Reason:
    def load(session: Session) -> None:
        load_catalog(session, text, "centre.yaml")

    with pytest.raises(CatalogError) as refused:
        db.run_sync(load)
    return refused.value.reasons[0][1]


def test_the_rota_is_a_table_of_rows_saved_through_the_loader(
    browser: Browser, db: InlineDBRunner, admin: int, rota: dict[str, str]
) -> None:
    browser.signed_in("ada")
    page = browser.get("/admin/s/queues/edit?key=TECH").text
    assert '<table class="admin-rows" id="f-support_turns"' in page
    assert 'name="support_turns"' not in page  # no YAML text
    assert 'id="f-support_turns-0-agent" value="eva"' in page
    assert 'id="f-support_turns-1-number" value="+420 603 555 010"' in page
    assert 'id="f-support_turns-2-opens" value="09:00"' in page  # Saturday: no members
    assert 'name="support_turns.rows" value="6"' in page  # three rows, three empty ones
    assert re.search(r'<option value="eva">Eva Dvořák \(eva\)</option>', page)  # dl-agent
    # Remove the number (an emptied row), add jan to Monday and a Tuesday turn.
    form = _rows(
        ("mon", "07:00", "19:00", "eva", "", "3"),
        ("mon", "", "", "", "", ""),
        ("sat", "09:00", "12:00", "", "", ""),
        ("tue", "08:00", "16:00", "", "+420 777 000 111", "2"),
        ("mon", "07:00", "19:00", "jan", "", "0"),
        ("", "", "", "", "", ""),
    )
    saved = browser.post("/admin/s/queues/save", {**rota, **form})
    assert saved.status == 303, re.findall(r"field-error[^>]*>[^<]*<", saved.text)
    record = db.run_sync(find_record, "queues", "TECH")
    assert record["support_turns"] == [  # type: ignore[index]
        {
            "weekday": "mon",
            "opens": "07:00",
            "closes": "19:00",
            "members": [{"agent": "eva", "priority": 3}, {"agent": "jan", "priority": 0}],
        },
        {
            "weekday": "tue",
            "opens": "08:00",
            "closes": "16:00",
            "members": [{"number": "+420 777 000 111", "priority": 2}],
        },
        {"weekday": "sat", "opens": "09:00", "closes": "12:00", "members": []},
    ]
    # The other keys of the queue were kept, and no rows at all clear the rota.
    assert record["support_turns_enabled"] is True  # type: ignore[index]
    assert browser.post("/admin/s/queues/save", {**rota, **_rows()}).status == 303
    assert db.run_sync(find_record, "queues", "TECH")["support_turns"] == []  # type: ignore[index]


BAD = [
    # (the bad row as typed, the cell it is told next to ("": the row), the same in YAML)
    (
        ("tue", "25:00", "16:00", "jan", "", "1"),
        "opens",
        "{weekday: tue, opens: '25:00', closes: '16:00', members: [{agent: jan, priority: 1}]}",
    ),
    (
        ("tue", "08:00", "16:00", "nobody", "", "1"),
        "agent",
        "{weekday: tue, opens: '08:00', closes: '16:00', members: [{agent: nobody, priority: 1}]}",
    ),
    (
        ("tue", "08:00", "16:00", "jan", "", "first"),
        "priority",
        "{weekday: tue, opens: '08:00', closes: '16:00', members: [{agent: jan, priority: first}]}",
    ),
    (
        ("tue", "08:00", "16:00", "jan", "777 000 111", "1"),
        "",
        "{weekday: tue, opens: '08:00', closes: '16:00',"
        " members: [{agent: jan, number: '777 000 111', priority: 1}]}",
    ),
    (
        ("mon", "08:00", "16:00", "jan", "", "1"),  # a second Monday
        "",
        "{weekday: mon, opens: '08:00', closes: '16:00', members: [{agent: jan, priority: 1}]}",
    ),
]


@pytest.mark.parametrize("language", ["en", "cs"])
@pytest.mark.parametrize(("bad", "column", "yaml_row"), BAD)
def test_a_bad_row_is_refused_next_to_its_cell_with_the_loaders_words(
    browser: Browser,
    db: InlineDBRunner,
    admin: int,
    rota: dict[str, str],
    bad: tuple[str, ...],
    column: str,
    yaml_row: str,
    language: str,
) -> None:
    text = (
        "queues:\n  - code: TECH\n    name: Tech\n    support_turns:\n"
        "      - {weekday: mon, opens: '07:00', closes: '19:00',"
        " members: [{agent: eva, priority: 3}]}\n"
        f"      - {yaml_row}\n"
    )
    expected = _loader_reason(db, text)
    if column and expected.template == FIELD_REASON and expected.param("key") == column:
        expected = expected.param("reason")
    if expected.param("first"):  # "first at line N": the table's row, counted from 1
        expected = Reason(expected.template, (*expected.params[:-1], ("first", 1)))
    browser.signed_in("ada")
    if language == "cs":
        browser.post("/account/language", {"language": "cs", "next": "/admin"})
    before = db.run_sync(export_catalog)
    form = _rows(("mon", "07:00", "19:00", "eva", "", "3"), bad)
    page = browser.post("/admin/s/queues/save", {**rota, **form})
    assert page.status == 409
    words = expected.render(Catalogues("Europe/Prague").language(language).gettext)
    where = f"f-support_turns-1-{column}-error" if column else "f-support_turns-1-error"
    shown = re.findall(rf'<p class="field-error" id="{where}"[^>]*>([^<]*)</p>', page.text)
    assert [html.unescape(s) for s in shown] == [words]
    assert html.unescape(page.text).count(words) == 1  # told once, next to its cell
    assert f'id="f-support_turns-1-opens" value="{bad[1]}"' in page.text  # kept as typed
    assert db.run_sync(export_catalog) == before
