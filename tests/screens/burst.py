"""Keys as a keyboard-wedge scanner sends them: all at once, nothing awaited in between.

`pilot.press()` waits for the app to go idle after every key, which hides every race a
real scanner hits; `burst()` hands every key event to the driver in one go, as the
terminal reader does when a scanner has filled the pty's buffer.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import App
from textual.keys import _character_to_key


def key_events(text: str) -> list[events.Key]:
    """One Key per character; a newline is the scanner's Enter."""
    out: list[events.Key] = []
    for char in text:
        if char == "\n":
            out.append(events.Key("enter", "\r"))
        else:
            key = char if char.isalnum() else _character_to_key(char)
            out.append(events.Key(key, char))
    return out


def burst(app: App[Any], text: str) -> int:
    """Send every key of `text` to the app's driver without waiting; returns the count."""
    driver = app._driver
    assert driver is not None
    keys = key_events(text)
    for event in keys:
        event.set_sender(app)
        driver.send_message(event)
    return len(keys)
