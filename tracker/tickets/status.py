"""Ticket status: the one transition table. Nothing else assigns `Ticket.status`."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.errors import IllegalTransition

STATUS_LABELS = {
    "received": "已接收",
    "assigned": "已分派",
    "in_progress": "办理中",
    "waiting_applicant": "等待申请人",
    "consulting": "征求意见中",
    "transferred": "已转办",
    "replied": "已答复",
    "closed": "已办结",
    "returned": "已退回",
    "merged": "已合并",
    "withdrawn": "已撤回",
}

# Still being handled (the report's 结转 counts and the open queues read this).
OPEN_STATUSES = frozenset(
    {"received", "assigned", "in_progress", "waiting_applicant", "consulting", "transferred"}
)
FINAL_STATUSES = frozenset({"closed", "merged", "withdrawn", "returned"})


@dataclass(frozen=True)
class Transition:
    action: str
    label: str
    sources: frozenset[str]
    target: str


def _t(action: str, label: str, sources: set[str], target: str) -> Transition:
    return Transition(action, label, frozenset(sources), target)


_WORKING = {"received", "assigned", "in_progress"}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("assign", "分派", {"received", "assigned", "in_progress", "transferred"}, "assigned"),
        # A ticket transferred (转办) to a department is that department's to sign for and answer at once:
        # its staff need not assign it to themselves first.
        _t("start", "开始办理", {"received", "assigned", "transferred"}, "in_progress"),
        _t("request_correction", "告知补正", _WORKING, "waiting_applicant"),
        _t("receive_correction", "收到补正材料", {"waiting_applicant"}, "in_progress"),
        _t("request_fee", "发出收费通知", _WORKING, "waiting_applicant"),
        _t("receive_fee", "收到缴费", {"waiting_applicant"}, "in_progress"),
        _t("start_consultation", "征求第三方意见", _WORKING, "consulting"),
        _t("end_consultation", "征求意见结束", {"consulting"}, "in_progress"),
        _t("transfer", "转办", _WORKING | {"transferred"}, "transferred"),
        _t("return_to_platform", "退单", _WORKING, "returned"),
        _t("reply", "答复", _WORKING | {"consulting", "transferred"}, "replied"),
        _t("close", "办结", {"replied", "waiting_applicant"}, "closed"),
        _t("reopen", "重新办理", {"replied", "closed", "returned"}, "in_progress"),
        _t("merge", "合并", OPEN_STATUSES, "merged"),
        _t("withdraw", "撤回", OPEN_STATUSES, "withdrawn"),
    )
}


def transition_for(action: str, current: str) -> Transition:
    """Return the transition for `action` from `current`, or raise IllegalTransition."""
    try:
        transition = TRANSITIONS[action]
    except KeyError:
        raise IllegalTransition(f"未知操作 {action!r}") from None
    if current not in transition.sources:
        raise IllegalTransition(
            f"当前状态为「{STATUS_LABELS.get(current, current)}」，不能执行「{transition.label}」"
        )
    return transition


def allowed_actions(current: str) -> list[Transition]:
    return [t for t in TRANSITIONS.values() if current in t.sources]
