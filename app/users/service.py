"""Staff accounts and their roles, within the caller's scope.

Rules (DESIGN §3, §11):
- An admin acts only inside the region subtrees they administer. A staff member
  is visible to them when at least one of the member's roles lies there; a
  superadmin sees every staff account, even one with no role left. Anything
  else is "not found", so existence never leaks.
- A role may be granted or revoked only by someone who outranks it over its
  region (superadmin excepted), and only at a region level the role fits.
- The account itself (password, disabled, name, phone, on duty) may be changed
  only by someone who outranks every role the member holds, so an admin can
  never take over a peer or a superior who also holds a small role in their
  area. Admins may edit their own account, but never disable themselves or
  give up their last admin role.
- A staff record shows only the roles that lie in the caller's scope (all of
  them to a superadmin, and to the member reading their own record, as /me
  does): that the member also works elsewhere, and where, is not the caller's
  to read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ADMIN_ROLES, ROLE_LEVELS, ROLE_RANK, Principal
from app.core.errors import Conflict, Forbidden, Invalid, NotFound, duplicate_is
from app.core.masking import mask_phone
from app.core.security import hash_password, verify_password
from app.org import department_service
from app.org.models import Department, Region
from app.users.models import USERNAME_LOWER_INDEX, Membership, User
from app.users.schemas import PASSWORD_MAX, PASSWORD_MIN, StaffRead, StaffRole

STAFF_KIND = "staff"


def staff_not_found() -> NotFound:
    return NotFound("staff.not_found", "工作人员不存在")


def username_taken() -> Conflict:
    return Conflict("staff.username_taken", "该登录账号已被使用")


def role_exists() -> Conflict:
    return Conflict("staff.role_exists", "该工作人员已在此区划持有该角色")


# What refuses the second of two creates that passed the checks at once.
USERNAME_UNIQUE = ("uq_user_account_username", USERNAME_LOWER_INDEX)
ROLE_UNIQUE = "uq_membership_user_id_role_region_id"


def role_too_high(role: str) -> Forbidden:
    return Forbidden(
        "staff.role_too_high", "只能授予或撤销比自己级别低的角色", details={"role": role}
    )


# --- scope helpers ----------------------------------------------------------


def outranks(principal: Principal, role: str, region_path: str | None) -> bool:
    """The caller ranks strictly above ``role`` over ``region_path`` (superadmin: always).
    A role without a region (superadmin) is outranked by nobody but a superadmin."""
    if principal.is_superadmin:
        return True
    if not region_path:
        return False
    return ROLE_RANK[role] < principal.max_rank_over(region_path)


@dataclass(frozen=True)
class _Held:
    membership: Membership
    region: Region | None
    department: Department | None


async def _memberships(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, list[_Held]]:
    held: dict[int, list[_Held]] = {uid: [] for uid in user_ids}
    if not user_ids:
        return held
    rows = await session.execute(
        select(Membership, Region, Department)
        .outerjoin(Region, Region.id == Membership.region_id)
        .outerjoin(Department, Department.id == Membership.department_id)
        .where(Membership.user_id.in_(user_ids))
        .order_by(Membership.id)
    )
    for m, region, department in rows:
        held[m.user_id].append(_Held(m, region, department))
    return held


def _visible(principal: Principal, held: list[_Held]) -> bool:
    if principal.is_superadmin:
        return True
    return any(h.region is not None and principal.covers(h.region.path, ADMIN_ROLES) for h in held)


def _shown(principal: Principal, user: User, held: list[_Held]) -> list[_Held]:
    """The roles of ``user`` the caller may read (see the module docstring)."""
    if principal.is_superadmin or user.id == principal.id:
        return held
    return [
        h for h in held if h.region is not None and principal.covers(h.region.path, ADMIN_ROLES)
    ]


def _to_read(principal: Principal, user: User, held: list[_Held]) -> StaffRead:
    return StaffRead(
        id=user.id,
        username=user.username,
        name=user.name,
        phone=user.phone,
        phone_masked=mask_phone(user.phone),
        on_duty=user.on_duty,
        disabled=user.disabled,
        roles=[
            StaffRole(
                id=h.membership.id,
                role=h.membership.role,
                region_id=h.membership.region_id,
                region_name=h.region.name if h.region else None,
                region_level=h.region.level if h.region else None,
                department_id=h.membership.department_id,
                department_name=h.department.name if h.department else None,
            )
            for h in _shown(principal, user, held)
        ],
        created_at=user.created_at,
    )


async def _staff_in_scope(
    session: AsyncSession, principal: Principal, user_id: int, *, lock: bool = False
) -> tuple[User, list[_Held]]:
    """The staff member and their roles. ``lock``: the account row is locked
    first (PostgreSQL; on SQLite a writer holds the database), so the roles
    read are the ones the caller's change applies to, and another change of
    the member's roles waits until the caller's transaction ends."""
    if lock:
        user = await session.scalar(
            select(User)
            .where(User.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    else:
        user = await session.get(User, user_id)
    if user is None or user.kind != STAFF_KIND or user.deleted_at is not None:
        raise staff_not_found()
    held = (await _memberships(session, [user.id]))[user.id]
    if not _visible(principal, held):
        raise staff_not_found()
    return user, held


async def read_staff(session: AsyncSession, principal: Principal, user: User) -> StaffRead:
    """The staff record as ``principal`` may read it (after a write)."""
    return _to_read(principal, user, (await _memberships(session, [user.id]))[user.id])


# --- reads ------------------------------------------------------------------


async def get_staff(session: AsyncSession, *, principal: Principal, user_id: int) -> StaffRead:
    user, held = await _staff_in_scope(session, principal, user_id)
    return _to_read(principal, user, held)


async def list_staff(
    session: AsyncSession,
    *,
    principal: Principal,
    region_id: int | None = None,
    role: str | None = None,
    q: str | None = None,
    after_id: int | None = None,
    limit: int = 20,
) -> tuple[list[StaffRead], bool]:
    """Staff visible to the caller, newest first. ``region_id`` and ``role`` select
    staff holding one role that matches both (the role inside that subtree)."""
    stmt = select(User).where(User.kind == STAFF_KIND, User.deleted_at.is_(None))

    conditions: list[ColumnElement[bool]] = []
    if not principal.is_superadmin:
        conditions.append(principal.region_clause(Region.path, roles=ADMIN_ROLES))
    if region_id is not None:
        region = await department_service.region_in_scope(session, principal, region_id)
        conditions.append(Region.path.startswith(region.path, autoescape=True))
    if role is not None:
        conditions.append(Membership.role == role)
    if conditions:
        # A superadmin membership has no region, hence the outer join.
        stmt = stmt.where(
            exists(
                select(Membership.id)
                .outerjoin(Region, Region.id == Membership.region_id)
                .where(Membership.user_id == User.id, *conditions)
            )
        )
    if q:
        stmt = stmt.where(
            or_(
                User.name.icontains(q, autoescape=True),
                User.username.icontains(q, autoescape=True),
                User.phone.contains(q, autoescape=True),
            )
        )
    if after_id is not None:
        stmt = stmt.where(User.id < after_id)
    users = list((await session.scalars(stmt.order_by(User.id.desc()).limit(limit + 1))).all())
    page = users[:limit]
    held = await _memberships(session, [u.id for u in page])
    return [_to_read(principal, u, held[u.id]) for u in page], len(users) > limit


# --- writes -----------------------------------------------------------------


async def _username_taken(session: AsyncSession, username: str) -> bool:
    # Case-insensitive, so "WangWu" and "wangwu" can never be two accounts.
    found = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(func.lower(User.username) == func.lower(username))
    )
    return bool(found)


async def _check_grant(
    session: AsyncSession,
    principal: Principal,
    *,
    role: str,
    region_id: int,
    department_id: int | None,
) -> Region:
    """Everything a new role must satisfy, in the order a caller can fix it:
    region in scope (404), rank (403), level (422), department (422/404)."""
    region = await department_service.region_in_scope(session, principal, region_id)
    if not outranks(principal, role, region.path):
        raise role_too_high(role)
    if region.level not in ROLE_LEVELS[role]:
        raise Invalid(
            "staff.role_level_mismatch",
            "该角色不能设在这一级区划",
            details={
                "role": role,
                "region_level": region.level,
                "allowed_levels": sorted(ROLE_LEVELS[role]),
            },
        )
    if role == "department_staff":
        if department_id is None:
            raise Invalid("staff.department_required", "部门工作人员必须指定所属部门")
        _, department_region = await department_service.department_in_scope(
            session, principal, department_id
        )
        # A department may station staff anywhere in the area it serves, not outside it.
        if not region.path.startswith(department_region.path):
            raise Invalid("staff.department_region_mismatch", "角色所在区划不在该部门的服务范围内")
    elif department_id is not None:
        raise Invalid("staff.department_not_allowed", "只有部门工作人员角色可以指定部门")
    return region


async def create_staff(
    session: AsyncSession,
    *,
    principal: Principal,
    username: str,
    password: str,
    name: str,
    phone: str | None,
    role: str,
    region_id: int,
    department_id: int | None = None,
) -> User:
    await _check_grant(
        session, principal, role=role, region_id=region_id, department_id=department_id
    )
    if await _username_taken(session, username):
        raise username_taken()
    user = User(
        kind=STAFF_KIND,
        username=username,
        password_hash=hash_password(password),
        name=name,
        nickname=name,
        phone=phone,
    )
    session.add(user)
    with duplicate_is(username_taken(), *USERNAME_UNIQUE):
        await session.flush()
    session.add(
        Membership(user_id=user.id, role=role, region_id=region_id, department_id=department_id)
    )
    await session.flush()
    return user


async def grant_role(
    session: AsyncSession,
    *,
    principal: Principal,
    user_id: int,
    role: str,
    region_id: int,
    department_id: int | None = None,
) -> User:
    user, held = await _staff_in_scope(session, principal, user_id)
    await _check_grant(
        session, principal, role=role, region_id=region_id, department_id=department_id
    )
    if any(h.membership.role == role and h.membership.region_id == region_id for h in held):
        raise role_exists()
    session.add(
        Membership(user_id=user.id, role=role, region_id=region_id, department_id=department_id)
    )
    with duplicate_is(role_exists(), ROLE_UNIQUE):
        await session.flush()
    return user


async def revoke_role(
    session: AsyncSession, *, principal: Principal, user_id: int, membership_id: int
) -> None:
    # Locked, so of two revocations of a member's last two roles at once the
    # second counts what the first left (one role) and is refused.
    user, held = await _staff_in_scope(session, principal, user_id, lock=True)
    target = next((h for h in held if h.membership.id == membership_id), None)
    region_path = target.region.path if target and target.region else None
    # A role outside the caller's scope is as good as absent to them.
    if target is None or not (
        principal.is_superadmin or principal.covers(region_path, roles=ADMIN_ROLES)
    ):
        raise NotFound("staff.role_not_found", "该角色不存在")
    role = target.membership.role
    if user.id == principal.id and role in ADMIN_ROLES:
        remaining = [h for h in held if h is not target and h.membership.role in ADMIN_ROLES]
        if not remaining:
            raise Conflict("staff.cannot_remove_own_admin", "不能撤销自己仅有的管理员角色")
    if not outranks(principal, role, region_path):
        raise role_too_high(role)
    if len(held) == 1 and not principal.is_superadmin:
        # With no role the member is in no admin's scope: nobody but the
        # superadmin could see, disable or restore the account again, and
        # their cases would show a handler with no role.
        raise Conflict(
            "staff.last_role",
            "不能撤销工作人员仅有的角色，撤销后将无人能管理该账号；请改为停用账号，或先授予新角色",
        )
    await session.delete(target.membership)
    await session.flush()


async def update_staff(
    session: AsyncSession, *, principal: Principal, user_id: int, changes: dict[str, Any]
) -> User:
    """Apply the fields present in ``changes``. Disabling the account or resetting
    its password bumps ``token_version``, which logs the member out everywhere."""
    user, held = await _staff_in_scope(session, principal, user_id)
    is_self = user.id == principal.id
    if is_self:
        if changes.get("disabled") is True:
            raise Conflict("staff.cannot_disable_self", "不能停用自己的账号")
        # A token taken from a device must not be enough to take the account
        # over for good: changing one's own password needs the current one.
        if (
            "password" in changes
            and user.password_hash is not None
            and not verify_password(changes.get("current_password") or "", user.password_hash)
        ):
            raise Forbidden("staff.current_password_wrong", "修改自己的密码需提供正确的当前密码")
    else:
        for h in held:
            if not outranks(principal, h.membership.role, h.region.path if h.region else None):
                # The role is named only where the caller may read it (``_shown``).
                seen = h in _shown(principal, user, held)
                raise Forbidden(
                    "staff.role_too_high",
                    "该工作人员持有与您同级或更高的角色，不能修改其账号",
                    details={"role": h.membership.role} if seen else {},
                )
    revoke_tokens = False
    if "name" in changes:
        user.name = changes["name"]
    if "phone" in changes:
        user.phone = changes["phone"]
    if "on_duty" in changes:
        user.on_duty = changes["on_duty"]
    if "disabled" in changes:
        revoke_tokens |= changes["disabled"] and not user.disabled
        user.disabled = changes["disabled"]
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
        revoke_tokens = True
    if revoke_tokens:
        user.token_version += 1
    await session.flush()
    return user


# --- CLI --------------------------------------------------------------------


async def create_superadmin(
    session: AsyncSession, *, username: str, password: str, name: str | None = None
) -> User:
    """Create the superadmin account, or, if the username exists, reset its password,
    re-enable it and make sure it holds the superadmin role (the recovery path
    when the last admin is locked out). Flushes; the caller commits."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise Invalid("staff.bad_password", f"密码长度须为 {PASSWORD_MIN}–{PASSWORD_MAX} 个字符")
    username = username.strip()
    if not username:
        raise Invalid("staff.bad_username", "登录账号不能为空")
    user = await session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    if user is None:
        user = User(kind=STAFF_KIND, username=username, name=name or username, nickname=name)
        session.add(user)
    else:
        user.kind = STAFF_KIND
        user.disabled = False
        user.token_version += 1
        if name:
            user.name = name
    user.password_hash = hash_password(password)
    await session.flush()
    has_role = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.user_id == user.id,
            Membership.role == "superadmin",
            Membership.region_id.is_(None),
        )
    )
    if not has_role:
        session.add(Membership(user_id=user.id, role="superadmin", region_id=None))
        await session.flush()
    return user
