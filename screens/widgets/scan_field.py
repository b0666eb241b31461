"""The scan field: a keyboard-wedge scanner's codes, one `Scanned` message per Enter.

A scanner "types" a code and Enter at about a key a millisecond, and the next scan may
follow with no gap. A Textual `Input` read from an app-level submit handler loses or
merges such scans: by the time the handler reads `value`, the input has already taken
characters of the next scan. So this widget keeps its own buffer and handles the keys
itself: a printable key appends, Enter takes the buffer and empties it in the same
synchronous handler and posts one `Scanned(code)`. Key events reach the focused widget
through one message queue, in order, so nothing is reordered, merged or lost.

Control keys (escape, ctrl+…, function keys) are not consumed: they bubble to the
screen's bindings. The field draws what is typed so far, so a person can type a code,
once no key has followed for SHOW_AFTER: a scanner's keys come about a millisecond apart,
so a scan is never drawn half-way. Each such drawing would be a frame just before the
scan's answer, which then waited for the next frame (Textual draws at most TEXTUAL_FPS a
second); a person sees a key a few milliseconds late.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual._time import get_time as now
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from screens.untrusted import visible

MAX_BUFFER = 512  # a longer "scan" is garbage; the service refuses it, we keep its start
SHOW_AFTER = 0.015  # seconds without a key before what is typed is drawn


class ScanField(Widget, can_focus=True):
    """Focus it; read `Scanned` messages."""

    DEFAULT_CSS = """
    ScanField {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $boost;
    }
    ScanField:focus {
        background: $primary 20%;
    }
    """

    prompt: reactive[str] = reactive("scan ›")
    shown: reactive[str] = reactive("")

    class Scanned(Message):
        """One complete scan (what was typed before Enter), in arrival order."""

        def __init__(self, field: ScanField, code: str, at: float) -> None:
            super().__init__()
            self.field = field
            self.code = code
            self.at = at  # when the Enter key event was made (textual's clock: `now()`)

    def __init__(
        self, *, prompt: str = "scan ›", id: str | None = None, show_after: float = SHOW_AFTER
    ) -> None:
        super().__init__(id=id)
        self.show_after = show_after
        self._buffer: list[str] = []
        self.set_reactive(ScanField.prompt, prompt)
        self.scans = 0  # Scanned messages posted (a test and the bench read it)
        # Set by a screen that takes scans at once (the pack screen): called in the same
        # step as Enter, not through the message queues of the field and then the screen.
        self.deliver: Callable[[ScanField.Scanned], None] | None = None
        self._typed_at = 0.0  # when the last key was taken
        self._show_pending = False  # a timer will draw what is typed

    @property
    def value(self) -> str:
        return "".join(self._buffer)

    def take(self) -> str:
        """The buffer, emptied in the same step."""
        code, self._buffer = "".join(self._buffer), []
        return code

    def on_key(self, event: events.Key) -> None:
        # Synchronous on purpose: no await between reading and clearing the buffer.
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            code = self.take()
            self.scans += 1
            self._send(self.Scanned(self, code, event.time))
        elif event.key == "backspace":
            event.stop()
            event.prevent_default()
            if self._buffer:
                self._buffer.pop()
        elif event.is_printable and event.character is not None:
            event.stop()
            event.prevent_default()
            if len(self._buffer) < MAX_BUFFER:
                self._buffer.append(event.character)
        else:
            return  # escape, ctrl+…, F-keys: the screen's bindings
        self._typed()

    def on_paste(self, event: events.Paste) -> None:
        """A pasted block: each line a scan, the last one (without a newline) stays typed."""
        event.stop()
        parts = event.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for part in parts[:-1]:
            self._buffer.extend(part[: MAX_BUFFER - len(self._buffer)])
            code = self.take()
            self.scans += 1
            self._send(self.Scanned(self, code, now()))
        self._buffer.extend(parts[-1][: MAX_BUFFER - len(self._buffer)])
        self._typed()

    def _send(self, scanned: ScanField.Scanned) -> None:
        if self.deliver is not None:
            self.deliver(scanned)
        else:
            self.post_message(scanned)

    def _typed(self) -> None:
        """Draw the buffer once keys stop coming (at once when it was emptied)."""
        self._typed_at = now()
        if not self._buffer:
            self.shown = ""  # nothing to draw when nothing was shown: a scanner's Enter
        elif not self._show_pending:
            self._show_pending = True
            self.set_timer(self.show_after, self._show_typed)

    def _show_typed(self) -> None:
        quiet = now() - self._typed_at
        if quiet < self.show_after:  # keys still coming: a scanner, or a fast typist
            self.set_timer(self.show_after - quiet, self._show_typed)
            return
        self._show_pending = False
        self.shown = self.value

    def render(self) -> Text:
        text = Text.assemble((self.prompt, "bold"), " ", visible(self.shown[-200:]))
        if self.has_focus:
            text.append(" ", style="reverse")
        return text


SLIP_PREFIX = "PL:ORDER:"
SLIP_GAP = 0.05  # seconds between a scanner's keys is ~0.001; a person's is > 0.05
_MAX_ORDER_DIGITS = 18


class SlipCatcher:
    """Spots a packing-slip scan (`PL:ORDER:1042` + Enter) in the app's key stream.

    Keys that could still be the start of a slip code are held back, not delivered, so a
    slip scanned on the queue does not also type `1`…`9` into the status tabs; the moment
    a key cannot belong to one (or no key follows within SLIP_GAP, as when a person types
    a `P`), the held keys are released in their order ahead of it. Only keys that follow
    each other within SLIP_GAP form a slip: the burst of a scanner.
    """

    def __init__(self, gap: float = SLIP_GAP) -> None:
        self.gap = gap
        self.held: list[events.Key] = []
        self.last = 0.0

    @property
    def text(self) -> str:
        return "".join(k.character or "" for k in self.held)

    def release(self) -> list[events.Key]:
        held, self.held = self.held, []
        return held

    def feed(self, event: events.Key, now: float) -> tuple[list[events.Key], int | None]:
        """(keys to deliver now, in order; the order number of a completed slip scan)."""
        out: list[events.Key] = []
        if self.held and now - self.last > self.gap:
            out = self.release()
        self.last = now
        if event.key == "enter" and self.held:
            number = slip_number(self.text)
            if number is not None:
                self.held = []
                return out, number
            return [*out, *self.release(), event], None
        if event.character is not None and _could_be_slip(self.text + event.character):
            self.held.append(event)
            return out, None
        return [*out, *self.release(), event], None


def _could_be_slip(text: str) -> bool:
    upper = text.upper()
    if len(upper) <= len(SLIP_PREFIX):
        return SLIP_PREFIX.startswith(upper)
    digits = upper[len(SLIP_PREFIX) :]
    return (
        upper.startswith(SLIP_PREFIX)
        and digits.isascii()
        and digits.isdigit()
        and len(digits) <= _MAX_ORDER_DIGITS
    )


def slip_number(text: str) -> int | None:
    """The order number of a complete slip code, or None."""
    if not _could_be_slip(text) or len(text) <= len(SLIP_PREFIX):
        return None
    number = int(text[len(SLIP_PREFIX) :])
    return number or None
