"""The Asterisk configuration Hotline ships (R-6.1), installed with it as the package
``asterisk_conf`` so that the simulator and the tests run the very files an admin loads.

Asterisk ignores this file; copy the ``.conf`` files (see README.md).
"""

from __future__ import annotations

from importlib.resources import files


def read_text(name: str) -> str:
    """A shipped file, e.g. ``read_text("extensions.conf")``."""
    return files(__name__).joinpath(name).read_text(encoding="utf-8")
