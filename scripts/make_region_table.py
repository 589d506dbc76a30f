"""Write service/supervision/regions.csv: China's provincial-level and prefecture-level divisions, in Chinese and
English, with their codes, short forms and a point to place them on a chart.

    pip install cpca==0.5.5 pypinyin==0.55.0 && python scripts/make_region_table.py

Source: the division codes, names and coordinates of the `cpca` package (MIT licence; its adcodes.csv follows the
National Bureau of Statistics' statistical division codes, 统计用区划代码). English names: the official English
names of the 34 provincial-level divisions below, and for prefectures the Hanyu Pinyin of the place name (with the
apostrophe before a syllable starting with a, o or e, as in Xi'an) plus the kind of division, with the customary
spellings of a few cities (Harbin, Hohhot, Urumqi, Lhasa, ...). Neither package is needed to run Semblance: the
table is shipped as data, and this script is how it was made.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

from pypinyin import Style, lazy_pinyin

OUT = Path(__file__).resolve().parents[1] / "service" / "supervision" / "regions.csv"

PROVINCES: dict[str, tuple[str, str, str]] = {
    # code: (English name, short Chinese name, one-character abbreviation 简称)
    "11": ("Beijing", "北京", "京"),
    "12": ("Tianjin", "天津", "津"),
    "13": ("Hebei", "河北", "冀"),
    "14": ("Shanxi", "山西", "晋"),
    "15": ("Inner Mongolia", "内蒙古", "蒙"),
    "21": ("Liaoning", "辽宁", "辽"),
    "22": ("Jilin", "吉林", "吉"),
    "23": ("Heilongjiang", "黑龙江", "黑"),
    "31": ("Shanghai", "上海", "沪"),
    "32": ("Jiangsu", "江苏", "苏"),
    "33": ("Zhejiang", "浙江", "浙"),
    "34": ("Anhui", "安徽", "皖"),
    "35": ("Fujian", "福建", "闽"),
    "36": ("Jiangxi", "江西", "赣"),
    "37": ("Shandong", "山东", "鲁"),
    "41": ("Henan", "河南", "豫"),
    "42": ("Hubei", "湖北", "鄂"),
    "43": ("Hunan", "湖南", "湘"),
    "44": ("Guangdong", "广东", "粤"),
    "45": ("Guangxi", "广西", "桂"),
    "46": ("Hainan", "海南", "琼"),
    "50": ("Chongqing", "重庆", "渝"),
    "51": ("Sichuan", "四川", "川"),
    "52": ("Guizhou", "贵州", "黔"),
    "53": ("Yunnan", "云南", "滇"),
    "54": ("Tibet", "西藏", "藏"),
    "61": ("Shaanxi", "陕西", "陕"),
    "62": ("Gansu", "甘肃", "甘"),
    "63": ("Qinghai", "青海", "青"),
    "64": ("Ningxia", "宁夏", "宁"),
    "65": ("Xinjiang", "新疆", "新"),
    "71": ("Taiwan", "台湾", "台"),
    "81": ("Hong Kong", "香港", "港"),
    "82": ("Macao", "澳门", "澳"),
}
CUSTOMARY = {
    "哈尔滨": "Harbin",
    "呼和浩特": "Hohhot",
    "乌鲁木齐": "Urumqi",
    "拉萨": "Lhasa",
    "喀什": "Kashgar",
    "和田": "Hotan",
    "阿克苏": "Aksu",
    "伊犁": "Ili",
    "塔城": "Tacheng",
    "阿勒泰": "Altay",
    "克拉玛依": "Karamay",
    "吐鲁番": "Turpan",
    "哈密": "Hami",
    "日喀则": "Shigatse",
    "林芝": "Nyingchi",
    "西双版纳": "Xishuangbanna",
    "昌都": "Qamdo",
    "那曲": "Nagqu",
    "山南": "Shannan",
    "阿里": "Ngari",
    "长治": "Changzhi",
    "朝阳": "Chaoyang",
    "漯河": "Luohe",
    "吕梁": "Lüliang",
    "鄂尔多斯": "Ordos",
    "呼伦贝尔": "Hulunbuir",
    "巴彦淖尔": "Bayannur",
    "乌兰察布": "Ulanqab",
    "锡林郭勒": "Xilingol",
    "阿拉善": "Alxa",
    "齐齐哈尔": "Qiqihar",
    "博尔塔拉": "Bortala",
    "巴音郭楞": "Bayingolin",
    "克孜勒苏": "Kizilsu",
}
"""Prefectures known in English by a spelling other than their Pinyin, and polyphones Pinyin reads wrongly."""
KINDS = (("自治州", "Autonomous Prefecture"), ("地区", "Prefecture"), ("盟", "League"), ("市", ""))
NOT_A_PREFECTURE = ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")
"""Rows of the source that group counties under a province or municipality rather than name a prefecture."""


def pinyin_name(chinese: str) -> str:
    """Hanyu Pinyin of a place name as one capitalised word, with the syllable-dividing apostrophe."""
    syllables = lazy_pinyin(chinese, style=Style.NORMAL)
    word = syllables[0]
    for s in syllables[1:]:
        word += ("'" if s[:1] in "aoe" else "") + s
    return word.capitalize()


def short_prefecture(name: str, nations: list[str]) -> tuple[str, str]:
    """(the place name without its kind or its peoples, the English kind) of a prefecture's full name."""
    for suffix, kind in KINDS:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            if suffix == "自治州":  # the place name comes before the peoples: 延边朝鲜族自治州 -> 延边
                cut = min((stem.find(n) for n in nations if stem.find(n) > 0), default=len(stem))
                stem = stem[:cut]
            return stem, kind
    return name, ""


def main() -> None:
    spec = importlib.util.find_spec("cpca")  # located, not imported: its matcher needs packages the table does not
    assert spec is not None and spec.submodule_search_locations, "pip install cpca==0.5.5"
    data = Path(next(iter(spec.submodule_search_locations))) / "resources"
    with (data / "adcodes.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with (data / "56_nations.csv").open(encoding="utf-8") as f:
        peoples = [line.strip() for line in f if line.strip()]
    nations = sorted({p for n in peoples for p in (n, n.removesuffix("族"))}, key=len, reverse=True)
    out = []
    for r in rows:
        code = r["adcode"]
        if code[2:] == "0" * 10:
            en, short, abbr = PROVINCES[code[:2]]
            out.append((code[:6], "province", "", r["name"], en, f"{short}|{abbr}", r["longitude"], r["latitude"]))
        elif code[4:] == "0" * 8 and r["name"] not in NOT_A_PREFECTURE:
            short, kind = short_prefecture(r["name"], nations)
            en = CUSTOMARY.get(short, pinyin_name(short))
            full_en = f"{en} {kind}".strip()
            forms = short if short != r["name"] else ""
            out.append((code[:6], "prefecture", code[:2] + "0000", r["name"], full_en, forms, r["longitude"],
                        r["latitude"]))  # fmt: skip
    out.sort()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("code", "level", "parent", "name_zh", "name_en", "short_zh", "longitude", "latitude"))
        w.writerows(out)
    print(f"{OUT}: {sum(1 for o in out if o[1] == 'province')} provinces, "
          f"{sum(1 for o in out if o[1] == 'prefecture')} prefectures")  # fmt: skip


if __name__ == "__main__":
    main()
