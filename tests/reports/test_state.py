from __future__ import annotations

import pytest

from app.core.errors import Conflict
from app.reports.state import OWNER_LEVELS, STATUS_NAMES, TRANSITIONS, check, check_upward

ALL = list(STATUS_NAMES)

# (action, from, expected to) — every legal move of DESIGN §4.
LEGAL = [
    ("dispatch", "submitted", "dispatched"),
    ("dispatch", "escalated", "dispatched"),
    ("accept", "dispatched", "in_progress"),
    ("accept", "escalated", "in_progress"),
    ("progress", "in_progress", "in_progress"),
    ("resolve", "in_progress", "resolved"),
    ("answer", "dispatched", "resolved"),
    ("return", "dispatched", "submitted"),
    ("escalate", "in_progress", "escalated"),
    ("transfer", "in_progress", "in_progress"),
    ("transfer", "dispatched", "dispatched"),
    ("request_extension", "in_progress", "in_progress"),
    ("rate", "resolved", "closed"),
    ("reopen", "resolved", "in_progress"),
    ("reopen", "closed", "in_progress"),
    ("reopen_to_queue", "resolved", "submitted"),
    ("reopen_to_queue", "closed", "submitted"),
    ("cancel", "submitted", "cancelled"),
    ("cancel", "dispatched", "cancelled"),
    ("reject", "submitted", "rejected"),
    ("reject", "in_progress", "rejected"),
    ("auto_close", "resolved", "closed"),
    ("auto_escalate", "in_progress", "escalated"),
]


@pytest.mark.parametrize(("action", "source", "target"), LEGAL)
def test_legal(action: str, source: str, target: str) -> None:
    assert check(action, source) == target


ILLEGAL = [
    ("accept", "resolved"),
    ("accept", "in_progress"),
    ("resolve", "dispatched"),
    ("resolve", "closed"),
    ("rate", "in_progress"),
    ("rate", "closed"),
    ("cancel", "in_progress"),
    ("reopen", "in_progress"),
    ("reopen", "rejected"),
    ("return", "in_progress"),
    ("escalate", "dispatched"),
]


@pytest.mark.parametrize(("action", "source"), ILLEGAL)
def test_illegal_is_409_with_chinese_message(action: str, source: str) -> None:
    with pytest.raises(Conflict) as info:
        check(action, source)
    assert info.value.code == "report.illegal_transition"
    assert STATUS_NAMES[source] in info.value.message


@pytest.mark.parametrize("source", ["rejected", "cancelled"])
def test_final_statuses_accept_nothing_but_review(source: str) -> None:
    allowed = [a for a, t in TRANSITIONS.items() if source in t.sources]
    assert allowed == []


def test_every_status_is_named() -> None:
    for t in TRANSITIONS.values():
        assert t.sources <= set(ALL)
        assert t.target is None or t.target in ALL


# (to, current owner level, allowed): an escalation only goes up.
ESCALATIONS = [
    ("community", "grid", True),
    ("street", "grid", True),
    ("department", "grid", True),
    ("street", "community", True),
    ("department", "community", True),
    ("department", "street", True),
    ("department", "district", True),
    ("community", "community", False),
    ("community", "street", False),
    ("street", "street", False),
    ("community", "district", False),
    ("street", "district", False),
    ("community", "department", False),
    ("street", "department", False),
    ("department", "department", False),
]


@pytest.mark.parametrize(("to", "level", "allowed"), ESCALATIONS)
def test_escalation_goes_up_only(to: str, level: str, allowed: bool) -> None:
    assert level in OWNER_LEVELS
    if allowed:
        check_upward(to, level)
        return
    with pytest.raises(Conflict) as info:
        check_upward(to, level)
    assert info.value.code == "report.escalate_not_upward"
    assert info.value.message
