"""Where a seller or a case is: free text ("浙江省杭州市", "Hangzhou, Zhejiang", "粤") placed on China's
provincial-level and prefecture-level divisions.

The table (`regions.csv`, made by scripts/make_region_table.py) holds each division's statistical code, level,
parent, Chinese and English names, short forms and a point to chart it. Placing a text finds every name in it
(Chinese by longest match, English by word), keeps the prefectures that lie in a province also named, and says why
when the text names none, or several that it cannot tell apart ("Taizhou" is in Jiangsu and in Zhejiang): a figure
is counted under a region only when the place is certain.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

TABLE = "regions.csv"
ENGLISH_SUFFIXES = ("autonomous prefecture", "prefecture", "league", "province", "city", "municipality", "shi",
                    "sheng", "autonomous region", "special administrative region", "sar")  # fmt: skip
"""Words an English place name may carry after its name ("Hangzhou City", "Zhejiang Sheng")."""
_WORD = re.compile(r"[a-zü']+")


@dataclass(frozen=True)
class Region:
    """One division: `code` is its six-digit statistical code (a province's ends in 0000)."""

    code: str
    level: str
    """"province" or "prefecture"."""
    parent: str
    """The province's code, for a prefecture; "" for a province."""
    name_zh: str
    name_en: str
    short_zh: tuple[str, ...]
    longitude: float
    latitude: float

    def name(self, language: str) -> str:
        return self.name_zh if language.startswith("zh") else self.name_en


@dataclass(frozen=True)
class Placement:
    """Where a text places something: the province and, when the text names one, the prefecture; or `problem`."""

    province: Region | None = None
    prefecture: Region | None = None
    problem: str = ""

    @property
    def code(self) -> str:
        """The most precise code placed ("" when none)."""
        placed = self.prefecture or self.province
        return placed.code if placed else ""


class RegionTable:
    """The divisions, and the names each can be written by."""

    def __init__(self, regions: list[Region]) -> None:
        self.regions = {r.code: r for r in regions}
        self._zh: dict[str, set[str]] = {}
        self._en: dict[str, set[str]] = {}
        self._abbreviations: dict[str, str] = {}
        for r in regions:
            forms = [r.name_zh, *r.short_zh]
            if r.level == "province" and r.short_zh:
                self._abbreviations[r.short_zh[-1]] = r.code  # the one-character 简称, matched only as a whole
                forms = forms[:-1]
            for form in forms:
                if len(form) >= 2:
                    self._zh.setdefault(form, set()).add(r.code)
            self._en.setdefault(_english_key(r.name_en), set()).add(r.code)
        self._zh_longest = max(map(len, self._zh))

    def get(self, code: str) -> Region | None:
        return self.regions.get(code)

    def provinces(self) -> list[Region]:
        return [r for r in self.regions.values() if r.level == "province"]

    def place(self, *texts: str) -> Placement:
        """Place the given texts (a region field, or a province and a city field) on one division."""
        text = " ".join(t.strip() for t in texts if t and t.strip())
        if not text:
            return Placement(problem="no region given")
        if text in self._abbreviations:
            return Placement(province=self.regions[self._abbreviations[text]])
        found = self._chinese_names(text) + self._english_names(text)
        if not found:
            return Placement(problem=f"{text!r} names no province or prefecture-level city")
        return self._resolve(text, found)

    def _chinese_names(self, text: str) -> list[set[str]]:
        """The codes each Chinese name in `text` may mean, longest names first, left to right."""
        return _longest_matches(list(text), self._zh_longest, lambda chars: self._zh.get("".join(chars)))

    def _english_names(self, text: str) -> list[set[str]]:
        """The codes each English name in `text` may mean (names of up to three words: "Inner Mongolia")."""
        words = _WORD.findall(text.lower().replace("’", "'"))
        return _longest_matches(words, 3, lambda run: self._en.get(_english_key(" ".join(run))))

    def _resolve(self, text: str, found: list[set[str]]) -> Placement:
        provinces = {c for codes in found if len(codes) == 1 for c in codes if self.regions[c].level == "province"}
        prefectures: set[str] = set()
        for codes in found:
            named_provinces = {c for c in codes if self.regions[c].level == "province"}
            cities = {c for c in codes if self.regions[c].level == "prefecture"}
            if named_provinces and cities:  # 吉林, 海南: the province, unless a province named is the city's own
                own = {c for c in cities if self.regions[c].parent in provinces}
                prefectures |= own
                if not own:
                    provinces |= named_provinces
            else:
                prefectures |= cities
                provinces |= named_provinces
        if provinces:
            within = {c for c in prefectures if self.regions[c].parent in provinces}
            prefectures = within  # a city of another province is a district's name here (北京市朝阳区)
        if len(prefectures) == 1:
            city = self.regions[next(iter(prefectures))]
            return Placement(province=self.regions[city.parent], prefecture=city)
        if len(prefectures) > 1:
            parents = {self.regions[c].parent for c in prefectures}
            names = " or ".join(sorted(self._described(c) for c in prefectures))
            province = self.regions[next(iter(parents))] if len(parents) == 1 else None
            return Placement(province=province, problem=f"{text!r} may be {names}")
        if len(provinces) == 1:
            return Placement(province=self.regions[next(iter(provinces))])
        names = " and ".join(sorted(self.regions[c].name_en for c in provinces))
        return Placement(problem=f"{text!r} names several provinces ({names})")

    def _described(self, code: str) -> str:
        """A prefecture as told apart from its namesakes: "Taizhou (台州市, Zhejiang)"."""
        r = self.regions[code]
        return f"{r.name_en} ({r.name_zh}, {self.regions[r.parent].name_en})"


def _longest_matches(
    parts: Sequence[str], longest: int, codes_of: Callable[[Sequence[str]], set[str] | None]
) -> list[set[str]]:
    """Scan `parts` (characters or words) left to right, taking at each place the longest run of at most `longest`
    parts that names a division (`codes_of`), and skipping a part that starts none."""
    out, i = [], 0
    while i < len(parts):
        for n in range(min(longest, len(parts) - i), 0, -1):
            codes = codes_of(parts[i : i + n])
            if codes:
                out.append(codes)
                i += n
                break
        else:
            i += 1
    return out


def _english_key(name: str) -> str:
    """An English name as compared: lower case, without apostrophes, umlauts or a division word after it."""
    key = name.lower().replace("'", "").replace("ü", "u").strip()
    for suffix in ENGLISH_SUFFIXES:
        if key.endswith(" " + suffix):
            key = key[: -len(suffix) - 1].strip()
            break
    return key


@cache
def region_table() -> RegionTable:
    """The shipped table, read once."""
    text = resources.files("service.supervision").joinpath(TABLE).read_text(encoding="utf-8")
    return RegionTable(
        [
            Region(
                r["code"],
                r["level"],
                r["parent"],
                r["name_zh"],
                r["name_en"],
                tuple(s for s in r["short_zh"].split("|") if s),
                float(r["longitude"]),
                float(r["latitude"]),
            )
            for r in csv.DictReader(io.StringIO(text))
        ]
    )
