"""The supervision picture as files a supervisor takes away: every ranking row as CSV or XLSX (a sheet per
ranking, and the totals with what each figure counts), and a one-page monthly brief in PDF, in Chinese or English.

Text that came from listings (a marketplace's or a shop's name) is written as text, never as a formula: CSV cells
through safe_text.spreadsheet_text, XLSX cells with XlsxWriter's write_string.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import xlsxwriter
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from service.i18n import translator
from service.reports.pdf import paragraph, styles
from service.safe_text import printable, spreadsheet_text
from service.supervision.rates import bound

RANKING_TITLES = {
    "region": "Regions",
    "marketplace": "Marketplaces",
    "category": "Priority areas",
    "rights_holder": "Rights holders",
    "entity": "Entities: seller accounts linked",
}
"""The rankings exported, with their titles (translated like the page's)."""
BRIEF_ROWS = 8
"""Rows of each ranking in the one-page brief."""


def ranking_rows(report: dict[str, Any]) -> list[dict[str, object]]:
    """Every ranking row flat, with its dimension, figures and comparison: the export's lines."""
    out: list[dict[str, object]] = []
    for dimension, rows in report["rankings"].items():
        for r in rows:
            c = r["comparison"] or {}
            share_low, share_high = r["share_interval"] or (None, None)
            ratio_low, ratio_high = c.get("interval") or (None, None)
            out.append(
                {
                    "dimension": dimension,
                    "key": r["key"],
                    "label": r["label"],
                    "hit_listings": r["hit_listings"],
                    "swept_listings": r["swept_listings"],
                    "share": r["share"],
                    "share_low": share_low,
                    "share_high": share_high,
                    "works": r["works"],
                    "sellers": r["sellers"],
                    "hit_findings": r["hit_findings"],
                    "previous_hit_listings": r["previous"]["hit_listings"],
                    "previous_swept_listings": r["previous"]["swept_listings"],
                    "ratio": c.get("ratio"),
                    "change_percent": c.get("change_percent"),
                    "ratio_low": ratio_low,
                    "ratio_high": ratio_high,
                    "beyond_chance": c.get("beyond_chance"),
                    "findings": " ".join(map(str, r["findings"])),
                }
            )
    return out


TEXT_COLUMNS = ("dimension", "key", "label", "findings")
"""Columns holding text (some of it from listings); the others are numbers or empty."""


def rankings_csv(report: dict[str, Any]) -> str:
    """`ranking_rows` as CSV text, text cells kept from running as formulas."""
    rows = ranking_rows(report)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["dimension"], lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet_text(str(v)) if k in TEXT_COLUMNS else v for k, v in r.items()} for r in rows)
    return out.getvalue()


def rankings_xlsx(report: dict[str, Any], language: str) -> bytes:
    """A workbook: the totals and definitions, then one sheet per ranking (numbers as numbers, text as text)."""
    _ = translator(language)
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    totals = book.add_worksheet(_sheet_name(_("Totals")))
    scope = report["scope"]
    lines: list[tuple[str, object]] = [
        ("period", f"{scope['start']} .. {scope['end']}"),
        ("marketplace", scope["marketplace"]),
        ("region", scope["region_name"] or scope["region"]),
        ("category", scope["category"]),
        *((k, v) for k, v in report["totals"].items() if not isinstance(v, dict)),
        *((f"previous {k}", v) for k, v in report["totals"]["previous"].items()),
    ]
    for row, (name, value) in enumerate(lines):
        totals.write_string(row, 0, name, bold)
        _cell(totals, row, 1, value)
    for row, (name, meaning) in enumerate(report["definitions"].items(), start=len(lines) + 1):
        totals.write_string(row, 0, name, bold)
        totals.write_string(row, 1, meaning)
    totals.set_column(0, 0, 24)
    totals.set_column(1, 1, 90)
    rows = ranking_rows(report)
    columns = list(rows[0]) if rows else []
    for dimension, title in RANKING_TITLES.items():
        sheet = book.add_worksheet(_sheet_name(_(title)))
        for col, name in enumerate(columns):
            sheet.write_string(0, col, name, bold)
        for r, line in enumerate((x for x in rows if x["dimension"] == dimension), start=1):
            for col, name in enumerate(columns):
                _cell(sheet, r, col, line[name], text=name in TEXT_COLUMNS)
        sheet.freeze_panes(1, 0)
        sheet.set_column(2, 2, 28)
    book.close()
    return buf.getvalue()


def _sheet_name(title: str) -> str:
    """A title as Excel allows a sheet's name: at most 31 characters, none of []:*?/\\ (the part before a colon)."""
    return re.sub(r"[\[\]:*?/\\]", " ", title.split(":")[0].split("：")[0]).strip()[:31]


def _cell(sheet: Any, row: int, col: int, value: object, text: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, int | float) and not text:
        sheet.write_number(row, col, value)
    else:
        sheet.write_string(row, col, printable(value))


def monthly_brief_pdf(report: dict[str, Any], language: str) -> bytes:
    """The one-page brief of a month: its totals against the month before, the regions, marketplaces and priority
    areas most hit with their change, the entities linking accounts, and what each figure counts."""
    _ = translator(language)
    body, _mono, key, note, head = styles(language)
    small = body.clone("brief-small", fontSize=7, leading=8.5)
    scope, t = report["scope"], report["totals"]

    def p(text: object, style: Any = body) -> Paragraph:
        return paragraph(text, style)

    where = " · ".join(x for x in (scope["region_name"], scope["marketplace"], scope["category"]) if x)
    story: list[Any] = [
        p(f"{_('Monthly supervision brief')} {scope['start'][:7]}", head["Title"]),
        p(f"{scope['start']} .. {scope['end']}" + (f" · {where}" if where else ""), body),
        Spacer(1, 3 * mm),
        p(
            f"{t['hit_listings']} {_('infringing listings of')} {t['swept_listings']} {_('swept')}; "
            f"{t['hit_findings']} {_('case findings')}; {t['works']} {_('works')}; {t['sellers']} {_('sellers')}. "
            f"{_('Month before')}: {t['previous']['hit_listings']} / {t['previous']['swept_listings']}. "
            + (change_text(t["comparison"], _) if t["comparison"] else ""),
            key,
        ),
    ]
    header = [_("Name"), _("Infringing listings"), _("Listings swept"), _("Share of swept"), _("Case findings"),
              _("Month before"), _("Change")]  # fmt: skip
    for dimension in ("region", "marketplace", "category"):
        rows = report["rankings"][dimension][:BRIEF_ROWS]
        if not rows:
            continue
        story += [Spacer(1, 2 * mm), p(_(RANKING_TITLES[dimension]), head["Heading3"])]
        data = [[p(h, small) for h in header]]
        for r in rows:
            share = "" if r["share"] is None else f"{100 * r['share']:.1f}%"
            change = change_text(r["comparison"], _) if r["comparison"] else ""
            data.append([p(x, small) for x in (r["label"], r["hit_listings"], r["swept_listings"], share,
                                               r["hit_findings"], r["previous"]["hit_listings"], change)])  # fmt: skip
        width = A4[0] - 30 * mm
        table = Table(data, colWidths=[width * w for w in (0.26, 0.1, 0.1, 0.1, 0.1, 0.1, 0.24)])
        table.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0f0")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(table)
    entities = report["entities"][:BRIEF_ROWS]
    if entities:
        story += [Spacer(1, 2 * mm), p(_(RANKING_TITLES["entity"]), head["Heading3"])]
        for e in entities:
            accounts = ", ".join(f"{a['seller_key']}@{a['marketplace']}" for a in e["accounts"])
            kinds = ", ".join(_(k) for k in sorted({str(link["kind"]) for link in e["links"]}))
            story.append(p(f"{e['entity_id']} {e['name']}: {accounts} ({kinds}); {e['hit_listings']} "
                           f"{_('Infringing listings')}", small))  # fmt: skip
    story += [Spacer(1, 3 * mm), p(_(SHARE_NOTE), note)]
    buf = io.BytesIO()
    margins = {"leftMargin": 15 * mm, "rightMargin": 15 * mm, "topMargin": 12 * mm, "bottomMargin": 12 * mm}
    title = f"Semblance supervision {scope['start'][:7]}"
    SimpleDocTemplate(buf, pagesize=A4, title=title, **margins).build(story)
    return buf.getvalue()


SHARE_NOTE = (
    "Share: infringing listings over listings swept, with its 95% interval. Change: the rate against the month "
    "before, with the 95% interval of the ratio; it is called rising or falling only when the interval excludes 1."
)


def change_text(c: dict[str, Any], _: Any) -> str:
    """A comparison as a sentence fragment: "6.50× (+550%), 95% 1.5-59, rising"."""
    if c["ratio"] is None:
        return _("new") if c["current"] else ""
    low, high = c["interval"]
    span = f"{bound(low)}-{bound(high)}" if high is not None else f">{bound(low)}"
    return f"{c['ratio']:.2f}× ({c['change_percent']:+.0f}%), 95% {span}, {_(c['direction'])}"
