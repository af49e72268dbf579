"""The prompts the centre's catalog names and the words it gives them (R-6.4).

Boxes, queues and IVR menus name the prompts they play; the catalog's ``prompts:`` section
gives a prompt its text per language. ``hotline prompts`` speaks what has words and lists
what has none, so that the admin records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import IvrMenu, PromptText, Queue, VoicemailBox


@dataclass(frozen=True)
class CatalogPrompts:
    used: frozenset[str]  # every prompt a box, a queue or a menu plays
    texts: Mapping[str, Mapping[str, str]]  # name -> language -> the words


def catalog_prompts(session: Session) -> CatalogPrompts:
    columns = (
        VoicemailBox.greeting_prompt,
        Queue.hours_prompt,
        IvrMenu.prompt,
        IvrMenu.invalid_prompt,
    )
    used = frozenset(name for column in columns for name in session.scalars(select(column)))
    texts: dict[str, dict[str, str]] = {}
    for row in session.scalars(select(PromptText)):
        texts.setdefault(row.name, {})[row.language] = row.text
    return CatalogPrompts(used, texts)
