"""Who is calling, and what they may see: the one place scope is decided.

A staff member's authority is the union of the region subtrees of the roles
they hold (DESIGN §11); a superadmin's covers everything. Services ask the
principal (``covers``, ``region_clause``) instead of checking roles themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from app.users.models import User

WORKER_ROLES = frozenset({"grid_worker", "grid_worker_part", "grid_leader"})
ADMIN_ROLES = frozenset({"community_admin", "street_admin", "district_admin", "superadmin"})
STAFF_ROLES = WORKER_ROLES | ADMIN_ROLES | {"department_staff"}

# Rank of each role: an admin may grant only roles ranked below their own.
ROLE_RANK = {
    "grid_worker_part": 1,
    "grid_worker": 1,
    "department_staff": 1,
    "grid_leader": 2,
    "community_admin": 3,
    "street_admin": 4,
    "district_admin": 5,
    "superadmin": 9,
    # The read-only grant of a third-party API key (see ``ApiClientRef``).
    "api_client": 0,
}
# The region level each role is held at.
ROLE_LEVELS: dict[str, frozenset[str]] = {
    "grid_worker": frozenset({"grid"}),
    "grid_worker_part": frozenset({"grid"}),
    # A 网格长 normally leads one grid; some communities name one for all their grids.
    "grid_leader": frozenset({"grid", "community"}),
    "community_admin": frozenset({"community"}),
    "street_admin": frozenset({"street"}),
    "district_admin": frozenset({"district"}),
    "department_staff": frozenset({"district", "street", "community"}),
    "superadmin": frozenset({"district", "street", "community", "grid"}),
}


@dataclass(frozen=True)
class Grant:
    membership_id: int
    role: str
    region_id: int | None
    region_path: str
    region_level: str
    region_name: str
    department_id: int | None = None


@dataclass(frozen=True)
class ApiClientRef:
    """A third-party caller authenticated by ``X-API-Key``. Its principal holds
    one ``api_client`` grant over the key's region: it reads (never acts) inside
    that subtree, on the routes that accept its scopes."""

    id: int
    name: str
    scopes: frozenset[str]
    region_id: int
    region_path: str


@dataclass
class Principal:
    user: User
    grants: list[Grant] = field(default_factory=list)
    api_client: ApiClientRef | None = None

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def roles(self) -> set[str]:
        return {g.role for g in self.grants}

    @property
    def is_staff(self) -> bool:
        return bool(self.grants)

    @property
    def is_superadmin(self) -> bool:
        return "superadmin" in self.roles

    @property
    def is_admin(self) -> bool:
        return bool(self.roles & ADMIN_ROLES)

    @property
    def rank(self) -> int:
        return max((ROLE_RANK[g.role] for g in self.grants), default=0)

    def has_role(self, *roles: str) -> bool:
        return self.is_superadmin or bool(self.roles & set(roles))

    def has_scope(self, scope: str) -> bool:
        return self.api_client is not None and scope in self.api_client.scopes

    def _grants(self, roles: Iterable[str] | None) -> list[Grant]:
        if self.api_client is not None:
            # A key reads its whole region whatever role a read rule asks for;
            # routes that act refuse keys before any rule runs.
            return list(self.grants)
        wanted = set(roles) if roles is not None else None
        return [g for g in self.grants if wanted is None or g.role in wanted]

    def scope_paths(self, roles: Iterable[str] | None = None) -> list[str] | None:
        """Region path prefixes the caller covers through ``roles`` (all roles by
        default); ``None`` means everything (superadmin)."""
        if self.is_superadmin:
            return None
        paths = sorted({g.region_path for g in self._grants(roles) if g.region_path})
        # Drop paths already covered by a shorter one.
        return [p for p in paths if not any(p != q and p.startswith(q) for q in paths)]

    def covers(self, region_path: str | None, roles: Iterable[str] | None = None) -> bool:
        if self.is_superadmin:
            return True
        if not region_path:
            return False
        return any(
            g.region_path and region_path.startswith(g.region_path) for g in self._grants(roles)
        )

    def max_rank_over(self, region_path: str) -> int:
        """Highest rank the caller holds over ``region_path``."""
        if self.is_superadmin:
            return ROLE_RANK["superadmin"]
        return max(
            (
                ROLE_RANK[g.role]
                for g in self.grants
                if g.region_path and region_path.startswith(g.region_path)
            ),
            default=0,
        )

    def region_clause(
        self,
        path_column: InstrumentedAttribute[str] | ColumnElement[str],
        roles: Iterable[str] | None = None,
    ) -> ColumnElement[bool]:
        """SQL condition: ``path_column`` lies inside the caller's scope."""
        paths = self.scope_paths(roles)
        if paths is None:
            return true()
        if not paths:
            return false()
        return or_(*[path_column.startswith(p, autoescape=True) for p in paths])
