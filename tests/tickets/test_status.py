import pytest

from tracker.errors import IllegalTransition
from tracker.tickets.status import OPEN_STATUSES, STATUS_LABELS, TRANSITIONS, allowed_actions, transition_for


def test_every_status_in_the_table_has_a_label():
    for t in TRANSITIONS.values():
        assert t.target in STATUS_LABELS
        assert t.sources <= set(STATUS_LABELS)


@pytest.mark.parametrize(
    ("action", "current", "target"),
    [
        ("assign", "received", "assigned"),
        ("start", "assigned", "in_progress"),
        ("request_correction", "in_progress", "waiting_applicant"),
        ("receive_correction", "waiting_applicant", "in_progress"),
        ("start_consultation", "in_progress", "consulting"),
        ("end_consultation", "consulting", "in_progress"),
        ("reply", "in_progress", "replied"),
        ("close", "replied", "closed"),
        ("reopen", "closed", "in_progress"),
        ("return_to_platform", "assigned", "returned"),
        ("merge", "received", "merged"),
    ],
)
def test_legal_transitions(action, current, target):
    assert transition_for(action, current).target == target


@pytest.mark.parametrize(
    ("action", "current"),
    [("close", "received"), ("reply", "closed"), ("receive_correction", "in_progress"), ("merge", "closed")],
)
def test_illegal_transitions_are_refused_in_chinese(action, current):
    with pytest.raises(IllegalTransition, match="不能执行"):
        transition_for(action, current)


def test_unknown_action_refused():
    with pytest.raises(IllegalTransition, match="未知操作"):
        transition_for("teleport", "received")


def test_final_statuses_offer_no_way_forward_but_reopen():
    for status in ("merged", "withdrawn"):
        assert allowed_actions(status) == []
    assert "received" in OPEN_STATUSES and "closed" not in OPEN_STATUSES
