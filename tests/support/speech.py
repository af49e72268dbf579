"""What the tests of spoken prompts need (R-6.4): Debian's ``espeak-ng`` and ``sox``.

The tests run the real tools, never a stand-in. A test that needs them calls
:func:`require_speech` first: where a tool is missing (a developer's laptop) the test is
skipped, but with ``HOTLINE_REQUIRE_SPEECH=1`` (CI) it FAILS, saying which package to
install, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_SPEECH_VARIABLE = "HOTLINE_REQUIRE_SPEECH"
SPEECH_TOOLS = ("espeak-ng", "sox")  # each is also the name of its Debian package


def missing_speech_tools() -> list[str]:
    return [tool for tool in SPEECH_TOOLS if shutil.which(tool) is None]


def require_speech() -> None:
    """Skip the test when espeak-ng or sox is missing; fail instead when CI requires them."""
    missing = missing_speech_tools()
    if not missing:
        return
    text = f"not installed: {', '.join(missing)} (apt install {' '.join(missing)})"
    if os.environ.get(REQUIRE_SPEECH_VARIABLE, "") == "1":
        pytest.fail(f"{REQUIRE_SPEECH_VARIABLE}=1 but {text}", pytrace=False)
    pytest.skip(text)
