"""A modal that shows one error to staff, with its title and the fix."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ErrorScreen(ModalScreen[None]):
    """Error dialog closed with Enter, Escape or the button.

    | Key | Binding id | Action |
    | --- | --- | --- |
    | escape | error.close | close the dialog |
    """

    CSS_PATH = "error.tcss"
    BINDINGS = [Binding("escape", "close", "关闭", id="error.close")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.error_title = title
        self.error_message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog"):
            yield Label(self.error_title, id="error-title")
            yield Static(self.error_message, id="error-message")
            yield Button("关闭", variant="error", id="error-close")

    def on_mount(self) -> None:
        self.query_one("#error-close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()

    def action_close(self) -> None:
        self.dismiss()
