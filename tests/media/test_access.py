"""Who may see a photo (GET /media/{id}, can_read_media), and attaching one's
own photos (load_owned_media)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import load_principal
from app.core.errors import Invalid, NotFound
from app.core.settings import Settings
from app.media.models import Media
from app.media.service import can_read_media, load_owned_media, media_read
from app.org.models import Department
from app.users.models import User
from tests.factories import Tree, auth, make_staff, make_tree, make_user
from tests.media.helpers import fetch, jpeg, make_report, upload


async def _photo(
    client: httpx.AsyncClient, settings: Settings, owner: User, size: tuple[int, int] = (60, 40)
) -> int:
    r = await upload(client, settings, owner, jpeg(size))
    assert r.status_code == 201
    return int(r.json()["id"])


async def _department(session: AsyncSession, tree: Tree, name: str) -> Department:
    department = Department(name=name, region_id=tree.street.id)
    session.add(department)
    await session.flush()
    return department


async def test_owner_gets_fresh_urls(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    media_id = await _photo(client, settings, owner)
    r = await client.get(f"/api/v1/media/{media_id}", headers=auth(settings, owner))
    assert r.status_code == 200
    assert r.json()["id"] == media_id
    assert (await fetch(client, r.json()["url"])).status_code == 200


async def test_another_resident_gets_404_like_an_unknown_id(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    owner, other = await make_user(session), await make_user(session)
    media_id = await _photo(client, settings, owner)
    theirs = await client.get(f"/api/v1/media/{media_id}", headers=auth(settings, other))
    unknown = await client.get("/api/v1/media/987654321", headers=auth(settings, other))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()
    assert theirs.json()["error"]["code"] == "media.not_found"


async def test_anonymous_is_401(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    media_id = await _photo(client, settings, await make_user(session))
    assert (await client.get(f"/api/v1/media/{media_id}")).status_code == 401


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("reporter", True),
        ("assignee_elsewhere", True),
        ("grid_worker", True),
        ("grid_leader_of_community", True),
        ("community_admin", True),
        ("street_admin", True),
        ("owning_department_staff", True),
        ("other_grid_worker", False),
        ("other_community_admin", False),
        ("other_department_staff", False),
        ("other_resident", False),
    ],
)
async def test_who_sees_a_photo_on_a_report(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    who: str,
    allowed: bool,
) -> None:
    tree = await make_tree(session)
    reporter = await make_user(session, home_grid=tree.grid)
    owning, other_department = (
        await _department(session, tree, "城管"),
        await _department(session, tree, "供电"),
    )
    assignee = await make_staff(session, "grid_worker", tree.far_grid)
    # A worker's photo on the resident's report (e.g. the resolution photo).
    uploader = await make_staff(session, "grid_worker", tree.grid)
    media_id = await _photo(client, settings, uploader)
    await make_report(
        session,
        reporter=reporter,
        region_path=tree.grid.path,
        assignee=assignee,
        department_id=owning.id,
        media_ids=(media_id,),
    )
    staff_roles = {
        "grid_worker": ("grid_worker", tree.grid, None),
        "grid_leader_of_community": ("grid_leader", tree.community, None),
        "community_admin": ("community_admin", tree.community, None),
        "street_admin": ("street_admin", tree.street, None),
        "owning_department_staff": ("department_staff", tree.street, owning),
        "other_grid_worker": ("grid_worker", tree.other_grid, None),
        "other_community_admin": ("community_admin", tree.other_community, None),
        "other_department_staff": ("department_staff", tree.street, other_department),
    }
    if who == "reporter":
        viewer = reporter
    elif who == "assignee_elsewhere":
        viewer = assignee
    elif who == "other_resident":
        viewer = await make_user(session, home_grid=tree.grid)
    else:
        role, region, department = staff_roles[who]
        viewer = await make_staff(session, role, region, department=department)

    r = await client.get(f"/api/v1/media/{media_id}", headers=auth(settings, viewer))

    assert r.status_code == (200 if allowed else 404), r.text
    media = await session.get(Media, media_id)
    assert media is not None
    assert await can_read_media(session, await load_principal(session, viewer), media) is allowed


async def test_staff_in_scope_cannot_see_a_photo_not_on_any_report(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    resident = await make_user(session, home_grid=tree.grid)
    media_id = await _photo(client, settings, resident)
    admin = await make_staff(session, "street_admin", tree.street)
    r = await client.get(f"/api/v1/media/{media_id}", headers=auth(settings, admin))
    assert r.status_code == 404


async def test_load_owned_media_keeps_the_given_order(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    ids = [await _photo(client, settings, owner, (60 + i, 40)) for i in range(3)]
    wanted = [ids[2], ids[0], ids[1]]
    loaded = await load_owned_media(session, owner_id=owner.id, media_ids=wanted)
    assert [m.id for m in loaded] == wanted
    assert await load_owned_media(session, owner_id=owner.id, media_ids=[]) == []
    assert media_read(loaded[0], settings).id == ids[2]


async def test_load_owned_media_refuses_anothers_or_unknown_ids(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    owner, other = await make_user(session), await make_user(session)
    mine = await _photo(client, settings, owner)
    theirs = await _photo(client, settings, other)
    for ids in ([mine, theirs], [theirs], [mine, 987654321]):
        with pytest.raises(NotFound) as info:
            await load_owned_media(session, owner_id=owner.id, media_ids=ids)
        assert info.value.code == "media.not_found"
        assert info.value.message == "图片不存在或不属于当前用户"


async def test_load_owned_media_refuses_repeats_and_more_than_nine(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    owner = await make_user(session)
    mine = await _photo(client, settings, owner)
    with pytest.raises(Invalid) as repeated:
        await load_owned_media(session, owner_id=owner.id, media_ids=[mine, mine])
    assert repeated.value.code == "media.duplicate"
    with pytest.raises(Invalid) as too_many:
        await load_owned_media(session, owner_id=owner.id, media_ids=list(range(1, 11)))
    assert too_many.value.code == "media.too_many"
    nine = [await _photo(client, settings, owner, (30 + i, 20)) for i in range(9)]
    assert len(await load_owned_media(session, owner_id=owner.id, media_ids=nine)) == 9
