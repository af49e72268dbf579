"""The catalog's first step on its own: reading a file needs no database, and every problem
comes with its line (the loader through the database is tests/db/test_catalog.py)."""

from __future__ import annotations

import textwrap
from datetime import time

import pytest

from db.catalog import DEFAULT_COUNTRY_PREFIX, CatalogError
from db.catalog.reader import Reader, compose
from db.catalog.values import read_time, scalar


def test_the_reader_collects_every_problem_with_its_line_without_a_database() -> None:
    text = textwrap.dedent(
        """\
        queues:
          - {code: TECH, name: Tech}
          - code: BILL
            name: Billing
            hours:
              - {weekday: mon, opens: '17:00', closes: '08:00'}
          - {code: TECH, name: Again}
        customers:
          - contract_number: C-1
            name: Jan
            location: BRNO
            phones:
              - 777 123 456
              - +420 777 123 456
        """
    )
    reader = Reader("centre.yaml", DEFAULT_COUNTRY_PREFIX)
    reader.read(compose(text, "centre.yaml"))
    with pytest.raises(CatalogError) as caught:
        reader.raise_problems()
    assert str(caught.value) == "centre.yaml:6: opens 17:00 is not before closes 08:00"
    assert caught.value.problems == (
        (6, "opens 17:00 is not before closes 08:00"),
        (7, "duplicate queue code 'TECH' (first at line 2)"),
        (14, "'+420 777 123 456' is listed twice (line 13)"),
    )


def test_times_and_leading_zeros_stay_text_where_yaml_1_1_would_make_numbers() -> None:
    root = compose("opens: 8:30\nnumber: 0420\n", "x.yaml")
    (_, opens), (_, number) = root.value
    assert scalar(opens) == "8:30" and read_time(opens) == time(8, 30)
    assert scalar(number) == "0420"
