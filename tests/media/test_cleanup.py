"""The worker's sweep of image files that no media row references: only past
the grace period, thumbnails of live photos kept, never outside the media
directory, a bounded slice per pass."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.media import cleanup
from app.media import service as media_service
from app.media.cleanup import SweepState, sweep_orphans
from app.media.models import Media
from app.media.storage import LocalStorage, content_key
from tests.factories import auth, make_user
from tests.media.helpers import jpeg

OLD = 2 * cleanup.GRACE_SECONDS


def _file(root: Path, data: bytes, extension: str = "jpg", *, age: float = OLD) -> str:
    """A stored file ``age`` seconds old, by its key."""
    key = content_key(data, extension)
    LocalStorage(root).put(key, data)
    _age(root / key, age)
    return key


def _age(path: Path, age: float) -> None:
    then = time.time() - age
    os.utime(path, (then, then))


async def _media(session: AsyncSession, full: str, thumb: str) -> Media:
    owner = await make_user(session)
    media = Media(
        owner_id=owner.id,
        sha256=os.urandom(32).hex(),
        content_type="image/jpeg",
        width=10,
        height=10,
        size_bytes=10,
        storage_key=full,
        thumb_key=thumb,
    )
    session.add(media)
    await session.flush()
    return media


async def test_old_orphans_go_referenced_and_fresh_files_stay(
    app: FastAPI, session: AsyncSession, tmp_path: Path
) -> None:
    root = tmp_path / "media"
    full, thumb = _file(root, b"full photo"), _file(root, b"its thumbnail", "webp")
    shared = _file(root, b"a thumbnail another photo also uses", "png")
    await _media(session, full, thumb)
    await _media(session, _file(root, b"other photo"), shared)
    orphan = _file(root, b"a photo whose row was deleted")
    orphan_thumb = _file(root, b"and its thumbnail", "webp")
    fresh = _file(root, b"an upload in flight, row not committed yet", age=60)

    removed = await sweep_orphans(app.state.db, root, state=SweepState())

    assert removed == 2
    assert not (root / orphan).exists() and not (root / orphan_thumb).exists()
    for key in (full, thumb, shared, fresh):
        assert (root / key).is_file(), key
    leftovers = [p.name for p in root.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []


async def test_deleted_account_photos_are_swept_after_the_grace_period(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    """DELETE /me removes the rows of loose uploads; their files follow."""
    root = tmp_path / "media"
    user = await make_user(session)
    media = await media_service.create_upload(
        session, storage=LocalStorage(root), owner_id=user.id, data=jpeg(), sha256="ab" * 32
    )
    await session.flush()
    keys = (media.storage_key, media.thumb_key)
    r = await client.request("DELETE", "/api/v1/me", headers=auth(app.state.settings, user))
    assert r.status_code == 204, r.text
    assert await session.scalar(select(Media).where(Media.id == media.id)) is None

    assert await sweep_orphans(app.state.db, root, state=SweepState()) == 0  # too recent
    for key in keys:
        assert (root / key).is_file()
        _age(root / key, OLD)
    assert await sweep_orphans(app.state.db, root, state=SweepState()) == 2
    assert not any((root / key).exists() for key in keys)


async def test_a_reupload_of_orphaned_bytes_keeps_the_file(
    app: FastAPI, session: AsyncSession, tmp_path: Path
) -> None:
    """Storing bytes that are already there (a second upload of the same
    picture) marks the file as used: the sweep leaves it to the new row."""
    root = tmp_path / "media"
    key = _file(root, b"same bytes again")
    LocalStorage(root).put(key, b"same bytes again")
    assert await sweep_orphans(app.state.db, root, state=SweepState()) == 0
    assert (root / key).is_file()


async def test_only_the_storage_s_own_names_inside_the_media_dir_are_touched(
    app: FastAPI, tmp_path: Path
) -> None:
    root = tmp_path / "media"
    key = _file(root, b"an orphan")
    directory = (root / key).parent
    top, sub = key.split("/")[:2]
    # Outside the media dir, files named and laid out like stored ones, reachable
    # through links to a directory at either level and to a file.
    outside = tmp_path / "outside"
    victims = [
        outside / "ee" / f"ffee{'0' * 60}.jpg",
        outside / f"{top}ee{'1' * 60}.jpg",
        outside / f"{top}{sub}{'2' * 60}.jpg",
    ]
    for victim in victims:
        victim.parent.mkdir(parents=True, exist_ok=True)
        victim.write_bytes(b"not ours")
        _age(victim, OLD)
    os.symlink(outside, root / "ff")
    os.symlink(outside, root / top / "ee")
    os.symlink(victims[2], directory / victims[2].name)
    strangers = [root / "notes.txt", directory / "README", directory / f"{(root / key).name}.bak"]
    for path in strangers:
        path.write_bytes(b"x")
        _age(path, OLD)
    stale_temp = directory / ".tmp-abc123"
    stale_temp.write_bytes(b"half a file")
    _age(stale_temp, OLD)
    live_temp = directory / ".tmp-def456"
    live_temp.write_bytes(b"being written")

    removed = await sweep_orphans(app.state.db, root, state=SweepState())

    assert removed == 2  # the orphan and the stale temporary file
    assert not (root / key).exists() and not stale_temp.exists()
    assert all(victim.is_file() for victim in victims)
    assert (directory / victims[2].name).is_symlink()
    assert all(path.is_file() for path in strangers)
    assert live_temp.is_file()


async def test_each_pass_is_bounded_and_a_finished_walk_rests(app: FastAPI, tmp_path: Path) -> None:
    root = tmp_path / "media"
    keys = sorted(_file(root, f"orphan {i}".encode()) for i in range(3))
    assert len({k[:5] for k in keys}) == 3, "the test wants three directories"
    state = SweepState()

    for done in range(1, 4):
        assert await sweep_orphans(app.state.db, root, state=state, max_files=1) == 1
        assert [(root / k).exists() for k in keys] == [i >= done for i in range(3)]
    # The walk is over: nothing until the rest is over, even for a new orphan.
    late = _file(root, b"a late orphan")
    assert await sweep_orphans(app.state.db, root, state=state, max_files=1) == 0
    assert (root / late).is_file()
    state.rest_until = 0.0
    assert await sweep_orphans(app.state.db, root, state=state, max_files=1) == 1
    assert not (root / late).exists()


async def test_a_file_set_aside_by_an_interrupted_sweep_is_put_back(
    app: FastAPI, session: AsyncSession, tmp_path: Path
) -> None:
    root = tmp_path / "media"
    key = _file(root, b"a live photo")
    await _media(session, key, _file(root, b"its thumb", "webp"))
    path = root / key
    os.rename(path, path.with_name(f".sweep-0123abcd-{path.name}"))

    assert await sweep_orphans(app.state.db, root, state=SweepState()) == 0
    assert path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


async def test_a_missing_media_dir_is_nothing_to_do(app: FastAPI, tmp_path: Path) -> None:
    assert await sweep_orphans(app.state.db, tmp_path / "absent", state=SweepState()) == 0


def test_a_file_touched_after_the_reference_check_is_put_back(tmp_path: Path) -> None:
    """Between the query and the removal an upload of the same bytes touched
    the file: setting it aside shows that, and it goes back in place."""
    root = tmp_path / "media"
    key = _file(root, b"uploaded again just now", age=0)
    assert cleanup._remove(root, key, time.time() - cleanup.GRACE_SECONDS) is False
    assert [p.name for p in (root / key).parent.iterdir()] == [(root / key).name]
