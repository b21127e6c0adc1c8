"""Domain errors: a staff-facing Chinese message that names the value and the fix."""

from __future__ import annotations


class AdmissionsError(Exception):
    """Base class of errors shown to staff; the CLI exits non-zero, the TUI shows a modal."""

    title = "操作失败"

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title


class NotFoundError(AdmissionsError):
    title = "未找到"


class WindowClosedError(AdmissionsError):
    title = "报名窗口未开放"


class ServiceUnavailableError(AdmissionsError):
    title = "外部服务不可用"
