"""The report pages' tests use the web tests' fixtures: a small centre, the real Klein
resource, a scripted browser (tests/support/web_fixtures.py)."""

from tests.support.web_fixtures import *  # noqa: F403 (pytest finds fixtures in a conftest)
