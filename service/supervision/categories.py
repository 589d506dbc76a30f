"""The priority areas a work belongs to (painting, illustration, photography, animation characters, ...): one
spelling per category, so that supervision counts a category once however a rights holder typed it.

A work's `categories` is a comma-separated list (commas, semicolons and their Chinese forms all separate). A
known category, in English or Chinese, is stored by its key; anything else is kept as typed (lower-cased), so an
office can use its own areas and still see them counted.
"""

from __future__ import annotations

import re

KNOWN: dict[str, tuple[str, str]] = {
    "painting": ("Painting", "绘画"),
    "illustration": ("Illustration", "插画"),
    "photography": ("Photography", "摄影"),
    "animation_character": ("Animation characters", "动漫形象"),
    "design": ("Design and patterns", "设计图案"),
    "calligraphy": ("Calligraphy", "书法"),
    "sculpture": ("Sculpture", "雕塑"),
    "film_still": ("Film and television stills", "影视剧照"),
}
"""Category key -> (English, Chinese) name; the areas the prosecutors' reports name."""
_SPELLINGS = {
    **{k: k for k in KNOWN},
    **{en.casefold(): k for k, (en, _) in KNOWN.items()},
    **{zh: k for k, (_, zh) in KNOWN.items()},
    "paintings": "painting",
    "photo": "photography",
    "photos": "photography",
    "animation": "animation_character",
    "anime": "animation_character",
    "cartoon": "animation_character",
    "animation character": "animation_character",
    "动漫": "animation_character",
    "卡通形象": "animation_character",
    "美术": "painting",
    "油画": "painting",
    "图案": "design",
}
_SEPARATORS = re.compile(r"[,;，；、|]+")


def normalise(text: str) -> str:
    """The stored form of a categories field: known categories by key, others lower-cased, in the order given,
    each once, comma-separated."""
    out: list[str] = []
    for part in _SEPARATORS.split(text or ""):
        word = " ".join(part.split()).casefold()
        key = _SPELLINGS.get(word, word.replace(" ", "_"))
        if key and key not in out:
            out.append(key)
    return ",".join(out)


def split(stored: str) -> list[str]:
    """The category keys of a stored field (normalised again: a registry migrated from before categories holds
    them as typed)."""
    return [c for c in normalise(stored).split(",") if c]


def label(key: str, language: str) -> str:
    """A category's name in `language` ("zh..." or English); an office's own category as stored."""
    names = KNOWN.get(key)
    if names is None:
        return key
    return names[1] if language.startswith("zh") else names[0]
