"""What every console screen shares: its services, and one place where failures land.

Database work runs in `@work(exit_on_error=False)` workers, so a failure never quits the
app; Textual then posts `Worker.StateChanged(ERROR)` to the screen that started the
worker, and `FailureReports` turns it into a notification the operator can act on: a
domain refusal is shown as the domain wrote it, a `Conflict` offers to reload, anything
else says what failed and how to retry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from textual.screen import Screen
from textual.worker import Worker, WorkerState

from screens.confirm import ConfirmDialog
from screens.ports import ConsoleServices
from screens.untrusted import visible
from screens.widgets.lazy_table import LazyTable
from services.errors import Conflict, Refused

RETRY_HINT = "press ctrl+r to retry"

P = ParamSpec("P")
S = TypeVar("S", bound=Screen[Any])


def after_typing(action: Callable[Concatenate[S, P], None]) -> Callable[Concatenate[S, P], None]:
    """Run a save action after the keys typed before it have reached the field.

    Save keys are priority bindings (ctrl+e must beat a text field's own ctrl+e), and a
    priority binding runs as soon as its key is read, while characters read just before
    it may still wait in the focused field's queue (a paste, a fast typist over SSH). So
    the action is queued behind them, on the focused field: nothing typed is left out.
    """

    def deferred(screen: S, /, *args: P.args, **kwargs: P.kwargs) -> None:
        target = screen.focused or screen
        target.call_later(action, screen, *args, **kwargs)

    deferred.__name__ = getattr(action, "__name__", "deferred")
    deferred.__doc__ = action.__doc__
    return deferred


class FailureReports:
    """Mixin for screens: report failed workers (and failed table fetches) in one handler."""

    services: ConsoleServices

    if TYPE_CHECKING:  # provided by the Screen this is mixed into
        app: Any

        def notify(self, message: str, **kwargs: Any) -> None: ...

    def report_failure(self, error: BaseException, what: str) -> None:
        """Tell the operator; `what` names the action ("load the queue", "save")."""
        if isinstance(error, Conflict):
            self.offer_reload(error)
        elif isinstance(error, Refused):
            self.notify(visible(str(error)), title="Refused", severity="warning", markup=False)
        else:
            detail = visible(str(error) or type(error).__name__)
            hint = f"; {RETRY_HINT}" if what.startswith("load") else "; try again"
            self.notify(
                f"Could not {what}: {detail}{hint}",
                title="Error",
                severity="error",
                markup=False,
                timeout=10,
            )

    def offer_reload(self, conflict: Conflict) -> None:
        def answer(reload: bool | None) -> None:
            if reload:
                self.reload_after_conflict(conflict)

        self.app.push_screen(
            ConfirmDialog(
                "Changed by someone else",
                visible(str(conflict)),
                yes="Reload",
                no="Keep editing",
            ),
            answer,
        )

    def reload_after_conflict(self, conflict: Conflict) -> None:
        """Fetch the order again; screens override this."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.report_failure(event.worker.error, event.worker.name or "finish the last step")

    def on_lazy_table_fetch_failed(self, event: LazyTable.FetchFailed) -> None:
        self.report_failure(event.error, "load more orders")
