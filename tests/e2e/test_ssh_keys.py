"""Every key Packline binds reaches it over plain SSH in any terminal: no binding needs the
kitty keyboard protocol (ctrl+shift, super, ctrl+enter ... are indistinguishable from
other keys, or never sent, in a legacy xterm), and every screen has its keys in its
footer, so nothing needs a mouse."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import screens
from console.app import PacklineApp

# Keys a legacy terminal (xterm, tmux, screen, PuTTY, a Linux console) cannot tell apart
# from another key, or does not send at all, without the kitty protocol.
NEEDS_KITTY = re.compile(
    r"(ctrl\+shift|shift\+ctrl|super\+|hyper\+|meta\+|ctrl\+(enter|return|tab|backspace|"
    r"escape|[019]|minus|equals|comma|full_stop|semicolon|apostrophe)$|shift\+(enter|"
    r"return|space|backspace|escape)$)"
)


def every_binding() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    classes: set[type] = {PacklineApp}
    for info in pkgutil.walk_packages(screens.__path__, "screens."):
        module = importlib.import_module(info.name)
        classes |= {c for _, c in inspect.getmembers(module, inspect.isclass)}
    ours = [c for c in classes if c.__module__.startswith(("screens.", "console."))]
    for cls in ours:  # Textual's own widgets add super+c beside ctrl+c: alternatives, fine
        for binding in cls.__dict__.get("BINDINGS", ()) or ():
            keys = binding[0] if isinstance(binding, tuple) else getattr(binding, "key", "")
            for key in str(keys).split(","):
                found.append((cls.__qualname__, key.strip().lower()))
    return found


def test_no_binding_needs_the_kitty_keyboard_protocol() -> None:
    bindings = every_binding()
    assert len(bindings) > 50  # the walk found the screens
    assert [(where, key) for where, key in bindings if NEEDS_KITTY.search(key)] == []
