"""Names, refs and messages are data, never markup or terminal commands.

Seized file names and user-given refs may hold Rich markup (`[/bold]`), ANSI escapes, or bidirectional-override
characters that make a printed name read differently from what it is. Everything a person did not write into
Semblance itself goes through here before it reaches a terminal: control and bidi characters become visible
escapes, and Rich gets plain `Text` (never parsed as markup).
"""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text

_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 and C1 controls, DEL (ANSI escapes start with ESC or CSI)
    "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"  # bidi marks, overrides, isolates; zero-width; separators
)


def printable(value: object, keep_lines: bool = False) -> str:
    """`value` as text with every control or bidi character replaced by a visible escape (`\\x1b`, `\\u202e`);
    with `keep_lines`, line breaks and tabs stay as they are (a page's or report's paragraphs)."""
    text = str(value)
    return _INVISIBLE.sub(lambda m: m.group() if keep_lines and m.group() in "\n\t" else _escape(m.group()), text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def cell(value: object, style: str = "") -> Text:
    """A Rich table cell or message part that is shown exactly as the data reads (no markup parsing)."""
    return Text(printable(value), style=style)


def markup_safe(value: object) -> str:
    """`value` made printable and escaped for inclusion in a Rich markup string."""
    return escape(printable(value))


def spreadsheet_text(text: str) -> str:
    """A CSV or XLSX cell a spreadsheet shows as text: data from listings starting with = + - @ (or a tab or
    carriage return) would otherwise run as a formula on the reader's machine."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
