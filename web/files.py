"""Files sent to the browser in pieces, with HTTP range requests (RFC 9110 14.2): what an
``<audio>`` element needs to play and seek a recording (R-3.2, R-5.2).

:func:`send_file` answers 200 with the whole file, 206 with the one range asked for, or 416
for a range past the end; it writes the file chunk by chunk as the connection takes it (a
push producer), so a long recording never sits in memory whole. :func:`file_inside` finds a
stored relative path under its root folder, never outside it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

from domain.refusals import NotFoundError
from web.request import RequestContext

# Recordings are sent in pieces of this size, each when the connection can take it.
CHUNK_BYTES = 64 * 1024


# What the recordings are: Asterisk writes WAV and GSM; an uploaded prompt may be MP3 or Ogg.
_AUDIO_TYPES = {
    ".wav": b"audio/wav",
    ".wav16": b"audio/wav",
    ".gsm": b"audio/x-gsm",
    ".mp3": b"audio/mpeg",
    ".ogg": b"audio/ogg",
}


class RangeNotSatisfiableError(ValueError):
    """The Range header asks for bytes the file does not have, or is malformed (416)."""


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``first`` .. ``last`` of a file, both included (HTTP's byte-range positions)."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1


_RANGE_SPEC = re.compile(r"^(\d*)-(\d*)$")


def parse_byte_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range of a ``Range`` header for a file of ``size`` bytes (RFC 9110 14.2).

    None: send the whole file (no header, another unit than ``bytes``, or several ranges,
    which a server may answer in full). Raises RangeNotSatisfiableError for a malformed
    ``bytes`` range or one that starts past the end: the answer is 416.
    """
    if header is None:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes":
        return None
    if "," in spec:
        return None
    match = _RANGE_SPEC.match(spec.strip())
    if not match or not (match.group(1) or match.group(2)):
        raise RangeNotSatisfiableError(header)
    first_text, last_text = match.groups()
    if len(first_text) > 18 or len(last_text) > 18:
        raise RangeNotSatisfiableError(header)
    if not first_text:  # "-N": the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiableError(header)
        return ByteRange(max(0, size - suffix), size - 1)
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last < first or first >= size:
        raise RangeNotSatisfiableError(header)
    return ByteRange(first, min(last, size - 1))


def file_inside(root_dir: Path | None, relative: str) -> Path | None:
    """The file ``relative`` if it exists inside ``root_dir`` (never outside: no ``..`` or
    absolute path from the database reaches the disk), else None."""
    if root_dir is None or not relative:
        return None
    root = root_dir.resolve()
    try:
        path = (root / relative).resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


@implementer(IPushProducer)
class _FileStreamer:
    """Writes ``length`` bytes of an open file to the request in chunks, pausing whenever the
    connection's buffer is full (a push producer: Twisted tells it when to pause and go on),
    so a long recording never sits in memory whole. ``done`` fires when the last byte is
    written; it fails when the browser went away first.
    """

    def __init__(self, handle: BinaryIO, length: int, request: Any) -> None:
        self._handle = handle
        self._left = length
        self._request = request
        self._paused = False
        self._producing = False
        self.done: Deferred[None] = Deferred()

    def start(self) -> Deferred[None]:
        self._request.registerProducer(self, True)
        self._produce()
        return self.done

    def _produce(self) -> None:
        if self._producing:
            return  # resumed from inside our own write: the loop below goes on
        self._producing = True
        try:
            while not self._paused and not self.done.called:
                chunk = self._handle.read(min(CHUNK_BYTES, self._left)) if self._left > 0 else b""
                if not chunk:
                    self._request.unregisterProducer()
                    self.done.callback(None)
                    return
                self._left -= len(chunk)
                self._request.write(chunk)
        finally:
            self._producing = False

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._produce()

    def stopProducing(self) -> None:
        if not self.done.called:
            # Unregistered first: the request is finished after this, and a producer still
            # registered then is an error in Twisted (seen on a loaded machine).
            self._request.unregisterProducer()
            self.done.errback(ConnectionDone("the browser stopped reading"))


async def send_file(rc: RequestContext, path: Path | None, *, missing: str) -> bytes:
    """Stream ``path`` with Range support (200, 206, 416); 404 saying ``missing`` (a message
    id) when there is no such file."""
    if path is None:
        raise NotFoundError(missing)
    request = rc.request
    try:
        handle = path.open("rb")
    except OSError:
        raise NotFoundError(missing) from None
    try:
        size = os.fstat(handle.fileno()).st_size
        request.setHeader(b"Accept-Ranges", b"bytes")
        request.setHeader(
            b"Content-Type", _AUDIO_TYPES.get(path.suffix.lower(), b"application/octet-stream")
        )
        request.setHeader(b"Cache-Control", b"private, no-store")
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        try:
            wanted = parse_byte_range(rc.header("range"), size)
        except RangeNotSatisfiableError:
            request.setResponseCode(416)
            request.setHeader(b"Content-Range", f"bytes */{size}".encode("ascii"))
            request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            return b""
        if wanted is None:
            wanted_length, first = size, 0
            request.setResponseCode(200)
        else:
            wanted_length, first = wanted.length, wanted.first
            request.setResponseCode(206)
            request.setHeader(
                b"Content-Range", f"bytes {wanted.first}-{wanted.last}/{size}".encode("ascii")
            )
        request.setHeader(b"Content-Length", str(wanted_length).encode("ascii"))
        if request.method == b"HEAD" or wanted_length == 0:
            return b""
        handle.seek(first)
        try:
            await _FileStreamer(handle, wanted_length, request).start()
        except ConnectionDone:
            pass  # the browser went away mid-file (it stopped, or seeked elsewhere)
        return b""
    finally:
        handle.close()
