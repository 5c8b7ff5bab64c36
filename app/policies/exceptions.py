"""Errors of the policy domain, with their stable codes."""

from __future__ import annotations

from app.core.errors import Conflict, Invalid, NotFound


class PolicyNotFound(NotFound):
    code = "policy.not_found"
    message = "政策不存在或未发布"


class IllegalTransition(Conflict):
    code = "policy.illegal_transition"
    message = "政策当前状态不允许此操作"


class PolicyArchived(Conflict):
    code = "policy.archived"
    message = "已归档的政策不能修改"


class RegionRequired(Invalid):
    code = "policy.region_required"
    message = "请指定政策适用的区划（region_id）"


class BadDates(Invalid):
    code = "policy.bad_dates"
    message = "失效日期不能早于生效日期"


class RegionNotFound(NotFound):
    code = "region.not_found"
    message = "区划不存在"
