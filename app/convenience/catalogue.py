"""The catalogue of 便民服务事项: search, read, and the admins' create and edit;
and the check the reports code makes on the service named by an errand."""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ADMIN_ROLES, Principal
from app.convenience import scope
from app.convenience.exceptions import ServiceNotErrand, ServiceNotFound
from app.convenience.models import Service
from app.convenience.schemas import ServiceCreate, ServiceRead, ServiceUpdate
from app.core import clock
from app.core.pagination import split_page
from app.org import department_service
from app.org.models import Region

MAX_TERMS = 5


def service_read(service: Service) -> ServiceRead:
    return ServiceRead(
        id=service.id,
        name=service.name,
        category=service.category,
        description=service.description,
        materials=list(service.materials or []),
        where=service.where_text,
        hours=service.hours,
        phone=service.phone,
        bookable=service.bookable,
        errand=service.errand,
        region_id=service.region_id,
        active=service.active,
        created_at=clock.to_shanghai(service.created_at),
        updated_at=clock.to_shanghai(service.updated_at),
    )


async def get_public_service(session: AsyncSession, service_id: int) -> Service:
    """A service residents may see: it exists and is active; else 404 ``service.not_found``."""
    service = await session.get(Service, service_id)
    if service is None or not service.active:
        raise ServiceNotFound(details={"service_id": service_id})
    return service


async def get_errand_service(session: AsyncSession, service_id: int) -> Service:
    """The service an ``errand`` report names: 404 ``service.not_found`` when it is
    unknown or withdrawn, 422 ``service.not_errand`` when it is not done for residents."""
    service = await get_public_service(session, service_id)
    if not service.errand:
        raise ServiceNotErrand(details={"service_id": service_id})
    return service


async def get_managed_service(
    session: AsyncSession, principal: Principal, service_id: int
) -> Service:
    """A service the caller administers; 404 otherwise, so scope is never told apart
    from absence."""
    service = await session.get(Service, service_id)
    if service is None or not scope.manages(principal, service.region_path):
        raise ServiceNotFound(details={"service_id": service_id})
    return service


def search_terms(q: str | None) -> list[str]:
    """Full-width folded (NFKC), split on whitespace, at most ``MAX_TERMS`` terms."""
    if not q:
        return []
    return unicodedata.normalize("NFKC", q).split()[:MAX_TERMS]


def _matches(term: str) -> ColumnElement[bool]:
    # icontains escapes % and _ (autoescape), so user input is always literal text.
    return or_(
        Service.name.icontains(term, autoescape=True),
        Service.description.icontains(term, autoescape=True),
        Service.category.icontains(term, autoescape=True),
    )


async def search(
    session: AsyncSession,
    *,
    q: str | None,
    category: str | None,
    region_path: str | None = None,
    principal: Principal | None = None,
    active: bool | None = True,
    after_id: int | None = None,
    limit: int = 20,
) -> tuple[list[Service], bool]:
    """Services whose name, description or category contain every term of ``q``,
    newest first. ``region_path``: only those that apply there (global ones or a
    scope above it). ``principal``: only those the caller administers."""
    conditions: list[ColumnElement[bool]] = [_matches(t) for t in search_terms(q)]
    if category:
        conditions.append(Service.category == category.strip())
    if region_path is not None:
        conditions.append(Service.region_path.in_(scope.ancestor_paths(region_path)))
    if principal is not None:
        conditions.append(principal.region_clause(Service.region_path, roles=ADMIN_ROLES))
    if active is not None:
        conditions.append(Service.active.is_(active))
    if after_id is not None:
        conditions.append(Service.id < after_id)
    rows = list(
        await session.scalars(
            select(Service).where(and_(*conditions)).order_by(Service.id.desc()).limit(limit + 1)
        )
    )
    return split_page(rows, limit)


async def region_path_of(session: AsyncSession, region_id: int) -> str:
    """The path of a region for the public filter; 404 ``region.not_found`` when unknown."""
    region = await session.get(Region, region_id)
    if region is None:
        raise department_service.region_not_found()
    return region.path


async def categories(session: AsyncSession) -> list[tuple[str, int]]:
    """Categories of the active services with their counts, most used first."""
    count = func.count(Service.id)
    rows = await session.execute(
        select(Service.category, count)
        .where(Service.active.is_(True))
        .group_by(Service.category)
        .order_by(count.desc(), Service.category)
    )
    return [(category, int(n)) for category, n in rows]


async def create_service(
    session: AsyncSession, *, principal: Principal, body: ServiceCreate
) -> Service:
    region = await scope.region_for_new(session, principal, body.region_id)
    service = Service(
        name=body.name,
        category=body.category,
        description=body.description,
        materials=list(body.materials),
        where_text=body.where,
        hours=body.hours,
        phone=body.phone,
        bookable=body.bookable,
        errand=body.errand,
        region_id=region.id if region else None,
        region_path=region.path if region else "",
        active=True,
        created_by=principal.id,
    )
    session.add(service)
    await session.flush()
    return service


_COLUMNS = {"where": "where_text"}


async def update_service(
    session: AsyncSession, *, principal: Principal, service_id: int, body: ServiceUpdate
) -> Service:
    service = await get_managed_service(session, principal, service_id)
    changes: dict[str, Any] = body.model_dump(include=body.model_fields_set)
    region_id = changes.pop("region_id", None)
    if region_id is not None:
        region = await department_service.region_in_scope(session, principal, region_id)
        service.region_id, service.region_path = region.id, region.path
    for field, value in changes.items():
        setattr(service, _COLUMNS.get(field, field), value)
    service.updated_at = clock.now()
    await session.flush()
    return service
