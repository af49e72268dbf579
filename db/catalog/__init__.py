"""Contact-centre data as one YAML document: export, and a validated upsert load (R-6.2).

The document (described key by key in ``docs/catalog-yaml.md``) names things by natural keys
instead of ids: location and queue codes, agent logins, seat names, box and menu codes, DID
numbers, department names, pause-type positions, customer contract numbers.

Loading happens in three steps, and nothing is written before the first two pass:

1. read (:mod:`db.catalog.reader`): the YAML is composed into nodes that keep their line
   numbers, and every mapping is checked for unknown, duplicate and missing keys, every value
   for its type and range;
2. check (:mod:`db.catalog.checker`): references are resolved against the file and the
   database together (a file may name a queue that is only in the database), and rules that
   need both are checked;
3. write (:mod:`db.catalog.writer`): upsert by natural key. What the file does not mention is
   left alone: records absent from the file stay, and a key absent from a record leaves that
   column or that list of children as it is. A list of children that IS given replaces the
   stored one.

Every refusal is a :class:`CatalogError` ``"<source>:<line>: <reason>"``. The caller runs the
load in one transaction (``DBRunner.run_sync`` or ``with session.begin()``), so an error that
only the database can see (a concurrent change) also leaves nothing half-loaded.

The export is :mod:`db.catalog.exporter`. The format itself, shared by both directions, is
:mod:`db.catalog.fields` (each record's keys), built on :mod:`db.catalog.values` (one value
read and written), :mod:`db.catalog.keys` (natural keys) and :mod:`db.catalog.problems`.
This module is the public API only.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from sqlalchemy.orm import Session

from db.catalog.checker import Checker
from db.catalog.exporter import Dumper, Exporter
from db.catalog.fields import KINDS
from db.catalog.keys import MAX_PAUSE_TYPES
from db.catalog.problems import CatalogError, Node, Reason
from db.catalog.reader import (
    DEFAULT_COUNTRY_PREFIX,
    MAX_REASON_DEPTH,
    Catalog,
    Reader,
    centre_country_prefix,
    compose,
)
from db.catalog.values import WEEKDAYS
from db.catalog.writer import Counts, LoadSummary, Writer

__all__ = [
    "DEFAULT_COUNTRY_PREFIX",
    "KINDS",
    "MAX_PAUSE_TYPES",
    "MAX_REASON_DEPTH",
    "WEEKDAYS",
    "CatalogError",
    "LoadSummary",
    "Reason",
    "SectionPlan",
    "export_catalog",
    "import_catalog",
    "load_catalog",
    "load_nodes",
    "preview_catalog",
]


def load_catalog(session: Session, text: str, source: str = "<string>") -> LoadSummary:
    """Validate the YAML ``text`` completely, then upsert it through ``session``.

    Raises :class:`CatalogError` before writing anything when the file is bad. The caller
    owns the transaction; this function flushes but never commits.
    """
    return load_nodes(session, compose(text, source), source)


def load_nodes(session: Session, root: Node | None, source: str) -> LoadSummary:
    """:func:`load_catalog` of a document already composed: a file's, or a record typed into
    an administration page (:mod:`db.catalog.records`). The same reader, checker and writer,
    so the pages refuse exactly what a file would (R-6.2)."""
    return _load(session, root, source)[0].summary()


def _load(session: Session, root: Node | None, source: str) -> tuple[Counts, Catalog]:
    country_prefix = centre_country_prefix(session, root, source)
    reader = Reader(source, country_prefix)
    catalog = reader.read(root)
    reader.raise_problems()
    Checker(session, catalog, reader).check()
    reader.raise_problems()
    counts = Counts()
    Writer(session, catalog, counts).write()
    session.flush()
    return counts, catalog


@dataclass(frozen=True)
class SectionPlan:
    """What a load does to one section: records created, updated, and named but untouched."""

    created: int
    updated: int
    untouched: int


def preview_catalog(session: Session, text: str, source: str) -> dict[str, SectionPlan]:
    """What :func:`load_catalog` of ``text`` would change, per section named in the file,
    without changing anything: the very load, in a savepoint that is rolled back. So the
    preview is what applying does (the same writer counts it). Raises :class:`CatalogError`
    as the load would."""
    savepoint = session.begin_nested()
    try:
        counts, catalog = _load(session, compose(text, source), source)
    finally:
        savepoint.rollback()
    return _plans(counts, catalog)


def import_catalog(session: Session, text: str, source: str) -> dict[str, SectionPlan]:
    """:func:`load_catalog`, telling per section what it did as :func:`preview_catalog`
    tells what it would do."""
    return _plans(*_load(session, compose(text, source), source))


def _plans(counts: Counts, catalog: Catalog) -> dict[str, SectionPlan]:
    plans: dict[str, SectionPlan] = {}
    for kind, named in catalog.sizes().items():
        created, updated = len(counts.created[kind]), len(counts.changed[kind])
        plans[kind] = SectionPlan(created, updated, max(0, named - created - updated))
    return plans


def export_catalog(session: Session) -> str:
    """All contact-centre data as YAML text, natural keys instead of ids, in a stable order.

    Never exports a plain password (only ``password_hash``). Raises :class:`CatalogError`
    (source ``<database>``) when a customer has no contract number or shares one with
    another customer: the contract number is the customer's key in the file.
    """
    data = Exporter(session).export()
    header = "# Hotline contact-centre catalog (R-6.2); the format: docs/catalog-yaml.md\n"
    return header + yaml.dump(
        data,
        Dumper=Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
