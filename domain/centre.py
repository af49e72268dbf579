"""The contact centre's settings when its data sets none (the ``settings`` table, loaded from
the catalog's ``settings`` section, docs/catalog-yaml.md)."""

from __future__ import annotations

# The country prefix completing a number written without one.
DEFAULT_COUNTRY_PREFIX = "420"
# Business hours, holidays and times on the pages are in this zone.
DEFAULT_TIME_ZONE = "Europe/Prague"
# answered (or voicemail chosen) within this many seconds counts as within the
# service level.
DEFAULT_SERVICE_LEVEL_S = 20
