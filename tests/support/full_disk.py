"""A real full disk for the fault suite (issue 11): a small tmpfs of its own, filled to the
last byte by a filler file while the fault lasts, so every write that needs a new block
fails with the kernel's own ``ENOSPC`` ("No space left on device"), as on a server whose
disk ran full. Freed again by removing the filler.

Mounting needs root, as ``.ci/run`` runs. Elsewhere (a developer's laptop) the cases that
need it are skipped, but with ``HOTLINE_REQUIRE_FULL_DISK=1`` (set by ``.ci/run``) they
FAIL instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REQUIRE_VARIABLE = "HOTLINE_REQUIRE_FULL_DISK"
FILLER = ".filler"


@contextmanager
def small_disk(where: Path, size_mb: int = 64) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` mounted at ``where`` for the block; unmounted after it (lazily:
    a connection the test left open must not fail the unmount)."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = "a full disk needs a tmpfs of its own, and mounting one failed: " + (
            mounted.stderr.strip() or f"exit {mounted.returncode}"
        )
        if os.environ.get(REQUIRE_VARIABLE, "") == "1":
            pytest.fail(f"{REQUIRE_VARIABLE}=1 but {reason}")
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Callable[[], None]:
    """Fill ``disk`` until the kernel says it is full; returns what frees it again."""
    filler = disk / FILLER
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as out:
        while True:
            try:
                out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    return lambda: filler.unlink(missing_ok=True)
