"""One set of rules (R-6.2): a value ``hotline load`` refuses, the administration page
refuses with the same reason, next to the same key, in the user's language, and nothing of
the record is saved.

Each case is a bad value for one key of a record. The loader gets it in a file; the page
gets the record's form with that key typed in. Both reasons must be the same words (in
English, and in Czech on a Czech page: the page's reason is the loader's reason rendered
in Czech)."""

from __future__ import annotations

import html
import json
import re
import textwrap

import pytest
from sqlalchemy.orm import Session

from admin.routes import form_values
from admin.store import find_record, settings
from db.catalog import CatalogError, export_catalog, load_catalog
from db.catalog.problems import FIELD_REASON, Reason
from tests.support.centre import StaffCentre
from tests.support.db import InlineDBRunner
from tests.support.web import Browser
from web.i18n import Catalogues

BASE = textwrap.dedent(
    """\
    departments:
      - name: Support
    voicemail_boxes:
      - {code: VM, name: Voicemail}
    queues:
      - {code: TECH, name: Tech}
    phone_seats:
      - {name: Desk 1, dial_string: PJSIP/1}
    pause_types:
      - {position: 4, name: Lunch}
    ivr_menus:
      - {code: MAIN, name: Main, prompt: demo/main}
    dids:
      - {number: '5000', name: Main line, menu: MAIN}
    locations:
      - {code: BRNO, name: Brno}
    customers:
      - {contract_number: C-1, name: First, location: BRNO}
    agents:
      - {login: petr, name: Petr, password: secret}
    """
)

# (section, the record's key field and key, the bad key, the bad value as typed / in YAML)
CASES = [
    ("queues", "code", "TECH", "ring_timeout_s", "0"),
    ("queues", "code", "TECH", "ring_timeout_s", "soon"),
    ("queues", "code", "TECH", "missed_call_pause_type", "12"),
    ("queues", "code", "TECH", "voicemail_box", "NOPE"),
    ("queues", "code", "TECH", "closed_action", "dance"),
    ("queues", "code", "TECH", "hours", "- {weekday: mon, opens: '17:00', closes: '08:00'}"),
    ("queues", "code", "TECH", "hours", "- {weekday: funday, opens: '08:00', closes: '17:00'}"),
    ("queues", "code", "TECH", "agents", "[nobody]"),
    ("phone_seats", "name", "Desk 1", "dial_string", "101"),
    ("voicemail_boxes", "code", "VM", "email_to", "nobody"),
    ("voicemail_boxes", "code", "VM", "kind", "fax"),
    ("pause_types", "position", "4", "name", "  "),
    ("ivr_menus", "code", "MAIN", "options", "- {digit: x, queue: TECH}"),
    ("ivr_menus", "code", "MAIN", "prompt", "../etc/passwd"),
    ("dids", "number", "5000", "language", "de"),
    ("agents", "login", "petr", "supervises", "[Support]"),
    ("agents", "login", "petr", "role", "boss"),
    ("customers", "contract_number", "C-1", "phones", "- 'no digits'"),
    ("customers", "contract_number", "C-1", "location", "PRAHA"),
    ("locations", "code", "BRNO", "operator", "C-404"),
]

FIELD_ERROR = re.compile(r'<p class="field-error" id="[^"]*" data-key="([^"]+)">([^<]*)</p>')


def _yaml_record(record: dict[str, object], bad_key: str, bad_value: str, nested: bool) -> str:
    """The stored record as a file writes it (JSON is YAML), with ``bad_key`` as typed."""
    kept = {k: v for k, v in record.items() if k != bad_key}
    lines = [f"    {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in kept.items()]
    if nested:
        lines.append(f"    {bad_key}:\n" + textwrap.indent(bad_value, "      "))
    elif bad_value.strip() == "":
        lines.append(f"    {bad_key}: {bad_value!r}")
    else:
        lines.append(f"    {bad_key}: {bad_value}")
    return "  -" + "\n".join(lines)[3:] + "\n"


def _loader_reason(db: InlineDBRunner, text: str, key: str) -> Reason:
    def load(session: Session) -> None:
        load_catalog(session, text, "centre.yaml")

    with pytest.raises(CatalogError) as refused:
        db.run_sync(load)
    reason = refused.value.reasons[0][1]
    if reason.template == FIELD_REASON and reason.param("key") == key:
        inner = reason.param("reason")
        assert isinstance(inner, Reason)
        return inner
    return reason


def _page_reasons(page_text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, message in FIELD_ERROR.findall(page_text):
        found.setdefault(key, []).append(html.unescape(message))
    return found


@pytest.fixture
def base(db: InlineDBRunner, centre: StaffCentre) -> None:
    db.run_sync(lambda s: load_catalog(s, BASE, "base.yaml"))


@pytest.mark.parametrize("language", ["en", "cs"])
@pytest.mark.parametrize(("section", "key_field", "key", "bad_key", "bad_value"), CASES)
def test_the_page_refuses_what_the_loader_refuses_with_the_same_reason(
    browser: Browser,
    db: InlineDBRunner,
    admin: int,
    base: None,
    section: str,
    key_field: str,
    key: str,
    bad_key: str,
    bad_value: str,
    language: str,
) -> None:
    record = db.run_sync(find_record, section, key)
    assert record is not None
    values = form_values(section, record)
    nested = values[bad_key].count("\n") > 0 or bad_key in (
        "hours",
        "agents",
        "options",
        "supervises",
        "phones",
    )
    text = f"{section}:\n" + _yaml_record(record, bad_key, bad_value, nested)
    expected = _loader_reason(db, text, bad_key)

    browser.signed_in("ada")
    if language == "cs":
        browser.post("/account/language", {"language": "cs", "next": "/admin"})
    before = db.run_sync(export_catalog)
    browser.get(f"/admin/s/{section}/edit?key={key}")
    form = {k: v for k, v in values.items() if v != "false"}
    form[bad_key] = bad_value
    page = browser.post(f"/admin/s/{section}/save", {**form, "key": key})
    assert page.status == 409, page.text
    translate = Catalogues("Europe/Prague").language(language).gettext
    assert _page_reasons(page.text) == {bad_key: [expected.render(translate)]}
    if language == "cs":
        assert expected.render(translate) != str(expected), "the reason is said in Czech"
    # Nothing of the record was saved.
    assert db.run_sync(export_catalog) == before


@pytest.mark.parametrize("language", ["en", "cs"])
@pytest.mark.parametrize(
    ("setting", "bad_value"),
    [("time_zone", "Mars/Olympus"), ("country_prefix", "4200"), ("prompt_language", "de")],
)
def test_the_settings_page_refuses_what_the_loader_refuses(
    browser: Browser, db: InlineDBRunner, admin: int, setting: str, bad_value: str, language: str
) -> None:
    expected = _loader_reason(db, f"settings:\n  {setting}: {bad_value}\n", setting)
    browser.signed_in("ada")
    if language == "cs":
        browser.post("/account/language", {"language": "cs", "next": "/admin"})
    browser.get("/admin/settings")
    page = browser.post("/admin/settings", {setting: bad_value, "centre_name": "Changed"})
    assert page.status == 409, page.text
    translate = Catalogues("Europe/Prague").language(language).gettext
    assert _page_reasons(page.text) == {setting: [expected.render(translate)]}
    assert "centre_name" not in db.run_sync(settings)  # nothing half-saved
