"""The one table of legal transitions of a 诉求 (DESIGN §4).

Every action names the statuses it may start from and the status it leads to
(``None``: the status stays). Who may act is decided in ``access``; this
module only answers "may this action happen to a case in this status".
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import Conflict

OPEN = frozenset({"submitted", "dispatched", "in_progress", "escalated"})
FINISHED = frozenset({"resolved", "closed"})
EXCLUDED = frozenset({"rejected", "cancelled"})

STATUS_NAMES = {
    "submitted": "待派单",
    "dispatched": "待签收",
    "in_progress": "处理中",
    "escalated": "已上报",
    "resolved": "已办结",
    "closed": "已关闭",
    "rejected": "已驳回",
    "cancelled": "已撤销",
}


@dataclass(frozen=True)
class Transition:
    name: str  # Chinese verb for messages
    sources: frozenset[str]
    target: str | None  # None: status unchanged


TRANSITIONS: dict[str, Transition] = {
    "dispatch": Transition("派单", frozenset({"submitted", "escalated"}), "dispatched"),
    "accept": Transition("签收", frozenset({"dispatched", "escalated"}), "in_progress"),
    "progress": Transition("记录进展", frozenset({"in_progress"}), None),
    "resolve": Transition("办结", frozenset({"in_progress"}), "resolved"),
    "answer": Transition("答复", frozenset({"dispatched", "in_progress", "escalated"}), "resolved"),
    "return": Transition("退单", frozenset({"dispatched"}), "submitted"),
    "escalate": Transition("上报", frozenset({"in_progress"}), "escalated"),
    "transfer": Transition("转派", frozenset({"dispatched", "in_progress", "escalated"}), None),
    "request_extension": Transition("申请延期", frozenset({"in_progress"}), None),
    "decide_extension": Transition("审批延期", frozenset({"in_progress"}), None),
    "rate": Transition("评价", frozenset({"resolved"}), "closed"),
    "helpful": Transition("确认答复有用", frozenset({"resolved"}), "closed"),
    "reopen": Transition("重新办理", frozenset({"resolved", "closed"}), "in_progress"),
    # A reopen whose last owner can no longer act: back to the queue, to be
    # dispatched afresh (``dispatch`` then moves it on).
    "reopen_to_queue": Transition("重新办理", frozenset({"resolved", "closed"}), "submitted"),
    "cancel": Transition("撤销", frozenset({"submitted", "dispatched"}), "cancelled"),
    "reject": Transition("驳回", OPEN, "rejected"),
    "supervise": Transition("督办", OPEN, None),
    "review": Transition("审核", OPEN | FINISHED, None),
    "follow": Transition("关注", OPEN, None),  # a new follow; followers keep reading
    # Background sweeps.
    "remind": Transition("催办", frozenset({"dispatched"}), None),
    "reassign": Transition("改派", frozenset({"dispatched"}), None),
    "auto_escalate": Transition("超期上报", frozenset({"in_progress"}), "escalated"),
    "auto_close": Transition("自动关闭", frozenset({"resolved"}), "closed"),
}


def check(action: str, status: str) -> str:
    """The status after ``action``; 409 ``report.illegal_transition`` when not allowed."""
    t = TRANSITIONS[action]
    if status not in t.sources:
        raise Conflict(
            "report.illegal_transition",
            f"该诉求{STATUS_NAMES.get(status, status)}，不能{t.name}",
            details={"action": action, "status": status},
        )
    return t.target or status


def is_open(status: str) -> bool:
    return status in OPEN


# The owners a case climbs through, lowest first (DESIGN §4: grid → community →
# street → department). A case that found no grid may wait in the district's
# queue, which sits below a department. The overdue sweep climbs the same order.
OWNER_LEVELS = ("grid", "community", "street", "district", "department")
LEVEL_NAMES = {
    "grid": "网格",
    "community": "社区",
    "street": "街道",
    "district": "区县",
    "department": "职能部门",
}


def is_above(to: str, level: str) -> bool:
    """Whether level ``to`` lies above ``level`` in ``OWNER_LEVELS``."""
    return OWNER_LEVELS.index(to) > (OWNER_LEVELS.index(level) if level in OWNER_LEVELS else 0)


def check_upward(to: str, level: str) -> None:
    """An escalation goes up: ``to`` must be above the case's ``owner_level``;
    409 ``report.escalate_not_upward`` otherwise (sideways or down would only
    restart the response deadline)."""
    if not is_above(to, level):
        raise Conflict(
            "report.escalate_not_upward",
            f"该诉求已在{LEVEL_NAMES.get(level, level)}层级办理，只能上报到更高一级",
            details={"to": to, "owner_level": level},
        )
