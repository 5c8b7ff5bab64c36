"""Where image files live: a small interface, a local directory by default.

Keys are content addresses (``ab/cd/<sha256>.jpg``, the hash of the stored
bytes), so a file is written once and never changes: writing an existing key
only refreshes its time, and two uploads that re-encode to the same bytes share
one file. Files no media row references are removed by ``app.media.cleanup``.
The methods are blocking; async callers run them in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO, Protocol

KEY_PATTERN = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}\.(jpg|png|webp)$")
# Files being written, renamed to their key once complete.
TEMP_PREFIX = ".tmp-"


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` (a no-op when the key already exists)."""

    def exists(self, key: str) -> bool: ...

    def open(self, key: str) -> BinaryIO:
        """A readable binary file; ``FileNotFoundError`` when the key is unknown."""

    def path(self, key: str) -> Path | None:
        """A local file path to serve directly, or ``None`` for remote stores."""


def content_key(data: bytes, extension: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}.{extension}"


def _checked(key: str) -> str:
    # Keys come from our own rows, but a path built from anything else must
    # never leave the media directory.
    if not KEY_PATTERN.fullmatch(key):
        raise ValueError(f"invalid media storage key: {key!r}")
    return key


class LocalStorage:
    """Files under one directory (``EJIAREN_MEDIA_DIR``), written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _file(self, key: str) -> Path:
        return self.root / _checked(key)

    def put(self, key: str, data: bytes) -> None:
        target = self._file(key)
        try:
            # Already there: mark it as just used, so the sweep of unreferenced
            # files (``cleanup``) spares it until this upload's row commits.
            os.utime(target)
            return
        except FileNotFoundError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, and two processes
        # writing the same key both end with the same complete file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def exists(self, key: str) -> bool:
        return self._file(key).is_file()

    def open(self, key: str) -> BinaryIO:
        return self._file(key).open("rb")

    def path(self, key: str) -> Path | None:
        return self._file(key)
