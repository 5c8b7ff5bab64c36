"""政策咨询 routes: public search and reading, and the admins' console (API.md "Policies")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import CurrentAdmin, OptionalUserOrPoliciesKey
from app.core.db import SessionDep
from app.core.errors import errors
from app.core.idempotency import IdempotencyKey, run_idempotent
from app.core.ids import PLAIN_DIGITS, id_path
from app.core.pagination import Cursor, Limit, Page, cursor_id, id_page
from app.policies import search, service
from app.policies.schemas import (
    MAX_ID,
    CategoryCount,
    PolicyAdminListItem,
    PolicyAdminRead,
    PolicyCreate,
    PolicyHit,
    PolicyRead,
    PolicyUpdate,
    Status,
    Suggestion,
)

router = APIRouter(tags=["policies"])

MAX_QUERY_CHARS = 100
MAX_SUGGEST_CHARS = 50

PolicyId = Annotated[int, PLAIN_DIGITS, id_path("政策 id", examples=[12])]
RegionFilter = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_ID,
        description=(
            "只看适用于该区划的政策（该区划及其上级区划发布的、不限区划的）。"
            "不传时：未登录或未设置所属网格的居民看不限区划与区县级的政策；"
            "已设置所属网格的居民看从所属区县到所属网格一路上的政策；工作人员另看其管辖范围内的"
        ),
        examples=[5],
    ),
]
CategoryFilter = Annotated[
    str | None,
    Query(max_length=32, description="分类（见 GET /policies/categories）", examples=["医疗保障"]),
]


@router.get(
    "/policies",
    summary="搜索政策（无需登录）",
    response_model=Page[PolicyHit],
    responses=errors(401, 403, 404, 422, 429),
)
async def search_policies(
    session: SessionDep,
    principal: OptionalUserOrPoliciesKey,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_CHARS,
            description=(
                "搜索词，用居民自己的话即可（如“医保怎么报销”“养老认证在哪办”），最多 100 字。"
                "支持繁体字与全角字符，常见同义词互相匹配（医保＝医疗保险，低保＝最低生活保障……）。"
                "不传或为空时按发布时间从新到旧列出"
            ),
            examples=["医保怎么报销"],
        ),
    ] = None,
    category: CategoryFilter = None,
    tag: Annotated[str | None, Query(max_length=16, description="标签", examples=["住院"])] = None,
    region_id: RegionFilter = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[PolicyHit]:
    """已发布政策的检索。

    - 有搜索词时按相关度从高到低排列（标题命中排在只有正文命中之前，`score` 为相关度），
      任一搜索词命中即列出；标题与摘要中命中的词用 `<em>…</em>` 标出（其余文字已做 HTML 转义）。
    - 没有搜索词时按发布时间从新到旧排列，`score` 为 null。
    - 搜索词中的标点、引号与运算符（AND、OR、*、: 等）一律按普通文字处理；
      只有标点的搜索词返回空列表。
    - `region_id` 不存在时返回 404 `region.not_found`；搜索词超过 100 字返回 422。
    """
    return await search.search(
        session,
        principal=principal,
        q=q,
        category=category,
        tag=tag,
        region_id=region_id,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/policies/suggest",
    summary="输入联想（无需登录）",
    response_model=Page[Suggestion],
    responses=errors(401, 403, 404, 422, 429),
)
async def suggest_policies(
    session: SessionDep,
    principal: OptionalUserOrPoliciesKey,
    q: Annotated[
        str,
        Query(
            max_length=MAX_SUGGEST_CHARS,
            description="已输入的文字，最多 50 字；为空时返回空列表",
            examples=["医保"],
        ),
    ] = "",
    region_id: RegionFilter = None,
) -> Page[Suggestion]:
    """边输入边提示：先是以输入开头的常用政策词语（如 医保、医保卡，只列调用者可见政策中出现过的，
    最多 5 个，`kind` 为 term），再是标题含输入文字或与之最相关的政策标题（最多 5 个，
    `kind` 为 title，带 `policy_id`）。不分页，`next_cursor` 恒为 null。"""
    items = await search.suggest(session, principal=principal, q=q, region_id=region_id)
    return Page(items=items, next_cursor=None)


@router.get(
    "/policies/categories",
    summary="政策分类（无需登录）",
    response_model=Page[CategoryCount],
    responses=errors(401, 403, 404, 422, 429),
)
async def policy_categories(
    session: SessionDep, principal: OptionalUserOrPoliciesKey, region_id: RegionFilter = None
) -> Page[CategoryCount]:
    """调用者可见的已发布政策所用的分类及各分类的政策数，从多到少排列。不分页。"""
    items = await search.categories(session, principal=principal, region_id=region_id)
    return Page(items=items, next_cursor=None)


@router.get(
    "/policies/{policy_id}",
    summary="政策详情（无需登录）",
    response_model=PolicyRead,
    responses=errors(401, 403, 404, 422, 429),
)
async def get_policy(
    policy_id: PolicyId, session: SessionDep, principal: OptionalUserOrPoliciesKey
) -> PolicyRead:
    """已发布的政策全文（Markdown）。已发布的政策是公开文件，任何人凭 id 均可查看
    （如分享到微信群的链接）；草稿、已归档或不存在的返回 404 `policy.not_found`。"""
    policy = await service.get_visible_policy(session, policy_id, principal)
    return await service.read(session, policy)


# ------------------------------------------------------------------ admins


@router.get(
    "/admin/policies",
    summary="管理端政策列表（含草稿与已归档）",
    response_model=Page[PolicyAdminListItem],
    responses=errors(401, 403, 422),
)
async def list_admin_policies(
    principal: CurrentAdmin,
    session: SessionDep,
    status: Annotated[
        Status | None, Query(description="按状态筛选：draft、published、archived")
    ] = None,
    category: CategoryFilter = None,
    q: Annotated[
        str | None, Query(max_length=50, description="标题包含的文字", examples=["医保"])
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[PolicyAdminListItem]:
    """管辖范围内（适用区划在管辖区划之下）的政策，新建的在前；
    不限区划的政策只有系统管理员可见。"""
    rows = await service.list_admin_policies(
        session,
        principal=principal,
        status=status,
        category=category,
        q=q,
        before_id=cursor_id(cursor),
        limit=limit + 1,
    )
    return id_page(rows, limit, service.admin_list_item)


@router.post(
    "/admin/policies",
    status_code=201,
    summary="新建政策（草稿）",
    response_model=PolicyAdminRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def create_policy(
    request: Request,
    body: PolicyCreate,
    principal: CurrentAdmin,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> PolicyAdminRead | Response:
    """新建的政策为草稿（draft），发布后才对居民可见。

    - `region_id` 须在调用者管辖范围内，否则 404 `region.not_found`；不传时为调用者管辖的区划，
      管辖多个区划时 422 `policy.region_required`；`null`（不限区划）仅系统管理员可用。
    - 失效日期早于生效日期返回 422。支持 `Idempotency-Key`。
    """

    async def work() -> PolicyAdminRead:
        policy = await service.create_policy(session, principal=principal, body=body)
        return await service.admin_read(session, policy)

    return await run_idempotent(
        request, session, owner=f"user:{principal.id}", key=key, status_code=201, work=work
    )


@router.get(
    "/admin/policies/{policy_id}",
    summary="管理端政策详情",
    response_model=PolicyAdminRead,
    responses=errors(401, 403, 404, 422),
)
async def get_admin_policy(
    policy_id: PolicyId, principal: CurrentAdmin, session: SessionDep
) -> PolicyAdminRead:
    """任何状态的政策；不在管辖范围内返回 404 `policy.not_found`。"""
    policy = await service.get_admin_policy(session, principal, policy_id)
    return await service.admin_read(session, policy)


@router.patch(
    "/admin/policies/{policy_id}",
    summary="修改政策",
    response_model=PolicyAdminRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def update_policy(
    policy_id: PolicyId, body: PolicyUpdate, principal: CurrentAdmin, session: SessionDep
) -> PolicyAdminRead:
    """只修改给出的字段，`null` 清空可选字段。草稿与已发布的政策都可修改，
    已发布的修改后立即按新内容被检索；已归档的返回 409 `policy.archived`。
    不在管辖范围内返回 404 `policy.not_found`（新的 `region_id` 不在管辖范围内为
    404 `region.not_found`）。"""
    policy = await service.update_policy(
        session, principal=principal, policy_id=policy_id, body=body
    )
    return await service.admin_read(session, policy)


@router.post(
    "/admin/policies/{policy_id}/publish",
    summary="发布政策",
    response_model=PolicyAdminRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def publish_policy(
    policy_id: PolicyId, principal: CurrentAdmin, session: SessionDep
) -> PolicyAdminRead:
    """草稿 → 已发布：记录发布时间，政策随即可被检索。已发布或已归档的返回 409
    `policy.illegal_transition`。"""
    policy = await service.transition(
        session, principal=principal, policy_id=policy_id, action="publish"
    )
    return await service.admin_read(session, policy)


@router.post(
    "/admin/policies/{policy_id}/archive",
    summary="归档政策",
    response_model=PolicyAdminRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def archive_policy(
    policy_id: PolicyId, principal: CurrentAdmin, session: SessionDep
) -> PolicyAdminRead:
    """已发布（或不再发布的草稿）→ 已归档：不再对居民可见、不再被检索，也不能再修改或发布。
    已归档的再归档返回 409 `policy.illegal_transition`。"""
    policy = await service.transition(
        session, principal=principal, policy_id=policy_id, action="archive"
    )
    return await service.admin_read(session, policy)
