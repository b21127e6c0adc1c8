"""Append-only audit log."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from console.models import AuditEvent

# Staff-facing names of the audit actions that concern applications, windows and runs.
ACTION_LABELS = {
    "application.create": "新建申请",
    "application.resubmit": "重新提交申请",
    "application.update": "更新申请",
    "application.withdraw": "撤回申请",
    "application.defer": "缓学",
    "application.reject": "不予受理",
    "review.decide": "审核决定",
    "case.open": "登记咨询投诉",
    "case.resolve": "办结咨询投诉",
    "applicant.unmask": "查看完整号码",
    "lookup": "政务数据查询",
    "classify": "资格核验与分批",
    "window.open": "打开报名窗口",
    "window.close": "关闭报名窗口",
    "window.override": "窗口外补录",
    "window.override.result": "窗口外补录结果",
    "allocation.seed": "生成摇号种子",
    "allocation.commit": "保存分配",
    "allocation.duplicate": "重复申请，未参加分配",
    "allocation.approve": "审定分配",
    "allocation.reopen": "撤销审定",
    "export.allocation": "导出分配结果",
}


def action_label(action: str) -> str:
    """Return the Chinese name of an audit action, or the action itself when unknown."""
    return ACTION_LABELS.get(action, action)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add an audit event to the session; it commits with the change it describes."""
    session.add(
        AuditEvent(
            actor=actor,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            detail=detail,
        )
    )
