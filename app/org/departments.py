"""Departments (/admin/departments)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from app.auth.dependencies import CurrentAdmin
from app.core.db import SessionDep
from app.core.errors import errors
from app.core.idempotency import IdempotencyKey, run_idempotent
from app.core.ids import PLAIN_DIGITS, id_path
from app.core.pagination import Cursor, Limit, Page, cursor_id, encode_cursor
from app.org import department_service
from app.org.models import Department

router = APIRouter(prefix="/admin/departments", tags=["staff"])

CategoryCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$"),
]


def _dedupe(codes: list[str]) -> list[str]:
    # Order is kept (the console shows them as entered); repeats mean nothing.
    return list(dict.fromkeys(codes))


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
        Field(description="部门名称，同一区划内唯一", examples=["城市管理局"]),
    ]
    region_id: int = Field(description="部门所属区划（区、街道或社区）的 id，须在调用者管辖范围内")
    category_codes: Annotated[
        list[CategoryCode],
        Field(
            max_length=50,
            description="该部门承接的诉求类别代码，最多 50 个，每个 1–32 位小写字母、数字或下划线",
            examples=[["city_appearance", "illegal_parking"]],
        ),
        AfterValidator(_dedupe),
    ] = Field(default_factory=list)


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="部门 id")
    name: str = Field(description="部门名称")
    region_id: int = Field(description="所属区划 id")
    category_codes: list[str] = Field(description="承接的诉求类别代码")
    created_at: datetime = Field(description="创建时间")


def _read(department: Department) -> DepartmentRead:
    return DepartmentRead.model_validate(department)


@router.get(
    "",
    summary="部门列表（调用者管辖范围内）",
    response_model=Page[DepartmentRead],
    responses=errors(401, 403, 404, 422),
)
async def list_departments(
    principal: CurrentAdmin,
    session: SessionDep,
    region_id: Annotated[int | None, Query(description="只列出该区划及其下级区划的部门")] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[DepartmentRead]:
    """按创建时间倒序列出调用者管辖范围内的部门；`region_id` 不在管辖范围内时返回 404。"""
    rows, more = await department_service.list_departments(
        session, principal=principal, region_id=region_id, after_id=cursor_id(cursor), limit=limit
    )
    return Page[DepartmentRead](
        items=[_read(d) for d in rows],
        next_cursor=encode_cursor({"id": rows[-1].id}) if more else None,
    )


@router.post(
    "",
    status_code=201,
    summary="新建部门",
    response_model=DepartmentRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def create_department(
    request: Request,
    body: DepartmentCreate,
    principal: CurrentAdmin,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> DepartmentRead:
    """在调用者管辖的区划下新建部门。同一区划内部门名称重复时返回 409 `department.name_taken`；
    区划不在管辖范围内时返回 404 `region.not_found`；
    类别代码没有对应的诉求类别时返回 422 `department.unknown_category`。"""

    async def work() -> DepartmentRead:
        department = await department_service.create_department(
            session,
            principal=principal,
            name=body.name,
            region_id=body.region_id,
            category_codes=body.category_codes,
        )
        return _read(department)

    return await run_idempotent(
        request, session, owner=f"user:{principal.id}", key=key, status_code=201, work=work
    )


@router.get(
    "/{department_id}",
    summary="部门详情",
    response_model=DepartmentRead,
    responses=errors(401, 403, 404),
)
async def get_department(
    department_id: Annotated[int, PLAIN_DIGITS, id_path("部门 id")],
    principal: CurrentAdmin,
    session: SessionDep,
) -> DepartmentRead:
    """部门不存在或不在调用者管辖范围内时返回 404 `department.not_found`。"""
    department, _ = await department_service.department_in_scope(session, principal, department_id)
    return _read(department)
