"""The ``network`` fixture: an end-to-end scenario that takes it runs twice, once over the
in-memory network and once over real loopback TCP (test ids end in ``[memory]``/``[tcp]``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_twisted

from tests.support.e2e_world import NETWORKS, NetworkKind, close_loopbacks


@pytest_twisted.async_yield_fixture(params=NETWORKS, ids=NETWORKS)
async def network(request: pytest.FixtureRequest) -> AsyncIterator[NetworkKind]:
    kind: NetworkKind = request.param
    yield kind
    await close_loopbacks()
