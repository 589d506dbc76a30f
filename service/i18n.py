"""Languages of the web UI and the evidence reports: English in the code, Simplified Chinese in a gettext
catalogue.

The catalogue is a plain .po file (`service/locales/zh/LC_MESSAGES/messages.po`, read with Babel), so translators
edit it with any gettext tool and nothing binary is committed; `pybabel extract -F babel.cfg` finds new strings.
A person's language is, in order: the one they chose (saved on their account, or the `semblance_lang` cookie
before signing in), then the browser's Accept-Language.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
COOKIE = "semblance_lang"

Translate = Callable[[str], str]


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """msgid -> translation for `language` (empty for English, the source language)."""
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.is_file():
        return {}
    with path.open("rb") as f:
        catalog = read_po(f, locale="zh_Hans_CN")
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and isinstance(m.id, str)}


def translator(language: str) -> Translate:
    """gettext for `language`: the translation where the catalogue has one, else the English text itself."""
    table = catalogue(language)
    return lambda text: table.get(text, text)


def from_accept_language(header: str) -> str:
    """The first supported language in an Accept-Language header (zh, zh-CN, zh-Hans... -> zh), else English."""
    weighted = []
    for i, part in enumerate(header.split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        weighted.append((-weight, i, tag.strip().lower()))
    for _, _, tag in sorted(weighted):
        base = tag.split("-")[0]
        if base in LANGUAGES:
            return base
    return "en"


def choose(chosen: str, cookie: str | None, accept_language: str) -> str:
    """A person's language: their saved choice, else the cookie, else the browser's."""
    for candidate in (chosen, cookie or ""):
        if candidate in LANGUAGES:
            return candidate
    return from_accept_language(accept_language)
