"""What a real Asterisk 22 said, recorded in ``shared/asterisk-facts/``: the AGI transcripts
and the AMI recording that the fastagi, ami and simulator tests replay.

The suite keeps copies in ``tests/support/asterisk-facts/`` so that it runs without the
shared folder; ``tests/fastagi/test_transcripts.py`` checks that the copies still equal the
:data:`ORIGINALS` when those are present (beside the repository, as the shared folder is).
"""

from __future__ import annotations

from pathlib import Path

FACTS_DIR = Path(__file__).resolve().parent / "asterisk-facts"
ORIGINALS = Path(__file__).resolve().parents[3] / "shared" / "asterisk-facts"
AMI_RECORDING = FACTS_DIR / "ami-originate-and-redirect-events.txt"


def recorded_wire() -> bytes:
    """The AMI recording as Asterisk sent it: the file has LF line ends, the wire has CRLF."""
    return AMI_RECORDING.read_bytes().replace(b"\n", b"\r\n")
