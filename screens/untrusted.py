"""Untrusted text (customers, vendors, files) made safe for a terminal.

Markup is never parsed where this is used (callers wrap the result in rich Text
or print it plainly); what this adds is that control characters, escape
sequences included, are shown as visible symbols instead of reaching the terminal.
"""

from __future__ import annotations

import re
import unicodedata

# C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and bidi
# overrides that can reorder or hide what follows them on screen.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]"
)


def _visible(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟ (␛ for ESC)
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def visible(text: object, *, keep_newlines: bool = False) -> str:
    """The text with every control character replaced by a visible stand-in."""
    value = str(text)
    if keep_newlines:
        return "\n".join(_UNSAFE.sub(_visible, part) for part in value.split("\n"))
    return _UNSAFE.sub(_visible, value)


def one_line(text: object, width: int | None = None) -> str:
    """For table cells: newlines and tabs become visible, then it is cut to `width`."""
    value = visible(text)
    if width is not None and len(value) > width:
        value = value[: max(width - 1, 0)] + "…"
    return value


def is_printable(text: str) -> bool:
    return not _UNSAFE.search(text) and all(unicodedata.category(c) != "Cs" for c in text)
