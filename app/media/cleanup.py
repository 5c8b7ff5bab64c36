"""Removing image files that no media row references any more: photos of an
erased account, deleted loose uploads, uploads whose transaction rolled back.
Files are shared by content (two rows may name the same key), so a file goes
only when no row names it, as a full image or as a thumbnail.

Safe against uploads in flight: a file goes only when it is older than
``GRACE_SECONDS`` (an upload writes, or touches, its files before its row
commits, and ``LocalStorage.put`` refreshes the time of a file it finds
already there). A file is set aside by a rename before it is removed and put
back if an upload touched it meanwhile.

Bounded: each pass looks at about ``MAX_FILES_PER_PASS`` files, resuming where
the last pass stopped; after a walk over the whole directory the sweep rests
for ``REST_SECONDS``. Only names the storage itself writes, under the media
directory and without following links, are ever touched.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from sqlalchemy import or_, select

from app.core.db import Database
from app.media.models import Media
from app.media.storage import KEY_PATTERN, TEMP_PREFIX

log = logging.getLogger("ejiaren.media")

GRACE_SECONDS = 3600.0
MAX_FILES_PER_PASS = 2000
REST_SECONDS = 3600.0
_QUERY_CHUNK = 400

_HEX2 = re.compile(r"^[0-9a-f]{2}$")
# A file set aside by a sweep: ``.sweep-<random>-<file name>``.
_ASIDE = re.compile(r"^\.sweep-[0-9a-f]{8}-(?P<name>[0-9a-f]{64}\.(?:jpg|png|webp))$")


@dataclass
class SweepState:
    """Where a walk over one media directory stands (kept per process; a new
    process starts a new walk, which is only more work, never less safety)."""

    after: str = ""  # the last ``ab/cd`` directory done in this walk
    rest_until: float = 0.0


_states: dict[Path, SweepState] = {}


@dataclass
class _Batch:
    old: list[str] = field(default_factory=list)  # keys past the grace period
    last_dir: str = ""
    walk_done: bool = True
    leftovers_removed: int = 0


async def sweep_orphans(
    db: Database,
    root: Path,
    *,
    state: SweepState | None = None,
    max_files: int = MAX_FILES_PER_PASS,
    grace_seconds: float = GRACE_SECONDS,
) -> int:
    """One bounded pass over ``root``: remove the files past the grace period
    that no media row references. Returns how many files were removed."""
    root = Path(root)
    if state is None:
        state = _states.setdefault(root.absolute(), SweepState())
    now = time.time()
    if now < state.rest_until or not root.is_dir():
        return 0
    cutoff = now - grace_seconds
    batch = await anyio.to_thread.run_sync(_scan, root, state.after, max_files, cutoff)
    referenced = await _referenced(db, batch.old)
    orphans = [key for key in batch.old if key not in referenced]
    removed = await anyio.to_thread.run_sync(_remove_all, root, orphans, cutoff)
    if batch.walk_done:
        state.after, state.rest_until = "", now + REST_SECONDS
    else:
        state.after = batch.last_dir
    removed += batch.leftovers_removed
    if removed:
        log.info("removed %d unreferenced media files", removed)
    return removed


def _subdirs(path: Path) -> list[str]:
    """Two-hex-digit directories directly under ``path``, sorted; links are skipped."""
    try:
        with os.scandir(path) as entries:
            names = [
                e.name for e in entries if _HEX2.match(e.name) and e.is_dir(follow_symlinks=False)
            ]
    except FileNotFoundError:
        return []
    return sorted(names)


def _scan(root: Path, after: str, max_files: int, cutoff: float) -> _Batch:
    """The keys past ``cutoff`` in the directories after ``after``, whole
    directories at a time until ``max_files`` files were looked at. Stale
    temporary files are removed and files a sweep left aside are put back."""
    batch = _Batch()
    seen = 0
    for top in _subdirs(root):
        if top < after[:2]:
            continue
        for sub in _subdirs(root / top):
            prefix = f"{top}/{sub}"
            if prefix <= after:
                continue
            seen += _scan_dir(root, prefix, cutoff, batch)
            batch.last_dir = prefix
            if seen >= max_files:
                batch.walk_done = False
                return batch
    return batch


def _scan_dir(root: Path, prefix: str, cutoff: float, batch: _Batch) -> int:
    directory = root / prefix
    seen = 0
    try:
        with os.scandir(directory) as entries:
            listed = list(entries)
    except FileNotFoundError:
        return 0
    for entry in listed:
        seen += 1
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            key = f"{prefix}/{entry.name}"
            if KEY_PATTERN.fullmatch(key) and entry.name.startswith(prefix.replace("/", "")):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    batch.old.append(key)
            elif entry.name.startswith(TEMP_PREFIX):
                # A write cut short (the storage renames its temporary file at once).
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(directory / entry.name)
                    batch.leftovers_removed += 1
            else:
                aside = _ASIDE.match(entry.name)
                if aside is not None:
                    _put_back(directory / entry.name, directory / aside["name"])
        except FileNotFoundError:
            continue
    return seen


def _put_back(aside: Path, path: Path) -> None:
    """A sweep stopped between setting a file aside and deciding: restore it
    (same content if the name was written again since); a later walk decides."""
    os.replace(aside, path)


async def _referenced(db: Database, keys: list[str]) -> set[str]:
    found: set[str] = set()
    if not keys:
        return found
    async with db.session(write=False) as session:
        for start in range(0, len(keys), _QUERY_CHUNK):
            chunk = keys[start : start + _QUERY_CHUNK]
            rows = await session.execute(
                select(Media.storage_key, Media.thumb_key).where(
                    or_(Media.storage_key.in_(chunk), Media.thumb_key.in_(chunk))
                )
            )
            for full, thumb in rows:
                found.update((full, thumb))
    return found


def _remove_all(root: Path, keys: list[str], cutoff: float) -> int:
    return sum(_remove(root, key, cutoff) for key in keys)


def _remove(root: Path, key: str, cutoff: float) -> bool:
    """Set the file aside (atomically: an upload from now on writes it anew),
    then remove it unless an upload touched it before the rename."""
    path = root / key
    aside = path.with_name(f".sweep-{secrets.token_hex(4)}-{path.name}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    try:
        touched = os.stat(aside, follow_symlinks=False).st_mtime >= cutoff
    except FileNotFoundError:  # another sweep put it back and took it again
        return False
    if touched:
        _put_back(aside, path)
        return False
    try:
        os.unlink(aside)
    except FileNotFoundError:  # put back meanwhile by another sweep
        return False
    return True
