"""Draw a scan's answer in the same turn of the event loop, not at the next frame tick.

Textual draws a widget's refresh in steps: the widget posts itself a prompt, on idle it
tells its screen (an `Update` message), on idle the screen resumes its frame timer, and
the timer's task draws at the next tick (at most TEXTUAL_FPS a second), then the
callbacks waiting for that frame run. Each step is a message or a task waking up: under
load, milliseconds of the scan's budget (and event-loop work) before the packer sees it.

`paint_now` does what Textual's own test pilot does to draw a frame at once
(`Pilot.pause` calls `Screen._on_timer_update`): it hands the screen the widgets the
answer changed, marks them drawn, and composes the frame now. It leaves everything else
to Textual: a widget whose size changed (it asked for a layout), a screen not on top, an
update batch in progress, or a Textual without these internals (then nothing is done and
the frame comes at the next tick, as for any widget).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.screen import Screen
from textual.widget import Widget


def paint_now(screen: Screen[Any], widgets: Iterable[Widget]) -> bool:
    """Compose the frame showing `widgets`' new content now; False when left to Textual."""
    try:
        app = screen.app
        if app.screen is not screen or app._batch_count:
            return False
        visible = screen._compositor.visible_widgets
        dirty = [w for w in widgets if w._repaint_required and w in visible]
        if not dirty or any(w._layout_required for w in dirty):
            return False
        pending = screen._dirty_widgets
        draw = screen._on_timer_update
    except AttributeError:  # another Textual: its own frame timer draws them
        return False
    for widget in dirty:
        widget._repaint_required = False  # drawn here: its idle need not ask again
    pending.update(dirty)
    draw()
    return True
