"""The supervision picture on the command line: `supervision show` (a period's totals, rankings, trend and
entities) and `supervision compare` (two periods, regions, categories or marketplaces side by side)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from service.cli.app import console, fail, service_store, supervision_app
from service.safe_text import cell

Month = Annotated[str, typer.Option("--month", help="A calendar month, YYYY-MM (default: the current one).")]
Start = Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (with --to, instead of --month).")]
End = Annotated[str, typer.Option("--to", help="The day after the last, YYYY-MM-DD.")]
Marketplace = Annotated[str, typer.Option("--marketplace", help="Only listings of this marketplace.")]
Region = Annotated[str, typer.Option("--region", help="A province or city: code (330000) or name (浙江, Hangzhou).")]
Category = Annotated[str, typer.Option("--category", help="A priority area: painting, illustration, ...")]
Language = Annotated[str, typer.Option("--language", help="Names of regions and categories: en or zh.")]


def _scope(month: str, start: str, end: str, marketplace: str, region: str, category: str) -> Any:
    from service.usecases.supervision import ScopeError, asked_scope

    try:
        return asked_scope(month, start, end, marketplace, region, category)
    except ScopeError as exc:
        raise fail(str(exc)) from exc


@supervision_app.command("show")
def show(
    month: Month = "",
    start: Start = "",
    end: End = "",
    marketplace: Marketplace = "",
    region: Region = "",
    category: Category = "",
    language: Language = "en",
    as_json: Annotated[bool, typer.Option("--json", help="The whole picture as JSON (the API's body).")] = False,
    csv_out: Annotated[
        str, typer.Option("--csv", help="Write every ranking to this CSV file (- for standard output).")
    ] = "",
    xlsx_out: Annotated[str, typer.Option("--xlsx", help="Write the totals and every ranking to this workbook.")] = "",
    pdf_out: Annotated[str, typer.Option("--pdf", help="Write the one-page brief of the period to this PDF.")] = "",
    top: Annotated[int, typer.Option("--top", min=1, max=1000, help="Rows per ranking printed.")] = 10,
    sort: Annotated[
        str, typer.Option("--sort", help="hit_listings | works | sellers | share | change (rises beyond chance first)")
    ] = "hit_listings",
) -> None:
    """Totals, rankings (regions, marketplaces, categories, rights holders, entities) with the change from the
    period before and whether it is beyond chance, the entities linking seller accounts."""
    from service.i18n import LANGUAGES
    from service.supervision.figures import SORTS
    from service.usecases.supervision import supervision_report

    if sort not in SORTS:
        raise fail(f"--sort is one of {', '.join(SORTS)}, not {sort!r}")
    if language not in LANGUAGES:
        raise fail(f"--language {language}: one of {', '.join(LANGUAGES)}")
    scope = _scope(month, start, end, marketplace, region, category)
    with service_store(only_reads=True) as (store, ws):
        report = supervision_report(store, ws.registry.works(), scope, ws.record, language, sort)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    if csv_out:
        _write_csv(report, csv_out)
        if csv_out == "-":
            return
    if xlsx_out or pdf_out:
        _write_files(report, xlsx_out, pdf_out, language)
    print_summary(report, top)


def print_summary(report: dict[str, Any], top: int) -> None:
    """The picture as a person reads it in a terminal."""
    s, t = report["scope"], report["totals"]
    where = " ".join(x for x in (s["region_name"], s["marketplace"], s["category"]) if x)
    console.print(f"[bold]Supervision {s['start']} .. {s['end']}[/] {cell(where)}")
    line = f"hit listings {t['hit_listings']} of {t['swept_listings']} swept"
    line += f"; case findings {t['hit_findings']}; works {t['works']}; sellers {t['sellers']}"
    console.print(line + f" (before: {t['previous']['hit_listings']} of {t['previous']['swept_listings']})")
    if t["comparison"]:
        console.print(f"change in share: {_change(t['comparison'])}")
    for dimension, title in (
        ("region", "Regions"),
        ("marketplace", "Marketplaces"),
        ("category", "Categories"),
        ("rights_holder", "Rights holders"),
    ):
        rows = report["rankings"][dimension][:top]
        if not rows:
            continue
        table = Table(title, "hit listings", "swept", "share", "works", "sellers", "cases", "change", title=None)
        for r in rows:
            share = "" if r["share"] is None else f"{100 * r['share']:.1f}%"
            change = _change(r["comparison"]) if r["comparison"] else "new" if not r["previous"]["hit_listings"] else ""
            table.add_row(
                cell(r["label"]),
                str(r["hit_listings"]),
                str(r["swept_listings"]),
                share,
                str(r["works"]),
                str(r["sellers"]),
                str(r["hit_findings"]),
                change,
            )
        console.print(table)
    for e in report["entities"][:top]:
        accounts = ", ".join(f"{a['seller_key']}@{a['marketplace']}" for a in e["accounts"])
        why = ", ".join(sorted({str(link["kind"]) for link in e["links"]}))
        console.print(
            f"entity {e['entity_id']} {cell(e['name'])}: {len(e['accounts'])} accounts ({cell(accounts)}) linked by "
            f"{why}; {e['hit_listings']} hit listings, {e['works']} works"
        )


def _change(c: dict[str, Any]) -> str:
    """How a supervisor reads a comparison: "6.50-fold +550% (1.5-60) rising", the rate ratio, the change, the 95%
    interval of the ratio and whether the change is beyond chance."""
    if c["ratio"] is None:
        return "new" if c["current"] else ""
    from service.supervision.rates import bound

    low, high = c["interval"]
    span = f"{bound(low)}-{bound(high)}" if high is not None else f">{bound(low)}"
    return f"{c['ratio']:.2f}-fold {c['change_percent']:+.0f}% ({span}) {c['direction']}"


def _write_csv(report: dict[str, Any], out: str) -> None:
    from service.supervision.exports import rankings_csv

    text = rankings_csv(report)
    try:
        if out == "-":
            sys.stdout.write(text)
        else:
            Path(out).write_text(text, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise fail(f"{out}: cannot write ({exc.strerror})") from exc
    if out != "-":
        console.print(f"rankings written to {cell(out)}")


def _write_files(report: dict[str, Any], xlsx_out: str, pdf_out: str, language: str) -> None:
    from service.reports.pdf import ReportFontError
    from service.supervision.exports import monthly_brief_pdf, rankings_xlsx

    for out, make in ((xlsx_out, rankings_xlsx), (pdf_out, monthly_brief_pdf)):
        if not out:
            continue
        try:
            Path(out).write_bytes(make(report, language))
        except ReportFontError as exc:
            raise fail(str(exc)) from exc
        except OSError as exc:
            raise fail(f"{out}: cannot write ({exc.strerror})") from exc
        console.print(f"written to {cell(out)}")


@supervision_app.command("compare")
def compare_command(
    a_from: Annotated[str, typer.Option("--a-from", help="Side A's first day, YYYY-MM-DD.")],
    a_to: Annotated[str, typer.Option("--a-to", help="The day after side A's last.")],
    b_from: Annotated[str, typer.Option("--b-from", help="Side B's first day (default: A's).")] = "",
    b_to: Annotated[str, typer.Option("--b-to", help="The day after side B's last (default: A's).")] = "",
    a_region: Annotated[str, typer.Option("--a-region")] = "",
    b_region: Annotated[str, typer.Option("--b-region")] = "",
    a_category: Annotated[str, typer.Option("--a-category")] = "",
    b_category: Annotated[str, typer.Option("--b-category")] = "",
    a_marketplace: Annotated[str, typer.Option("--a-marketplace")] = "",
    b_marketplace: Annotated[str, typer.Option("--b-marketplace")] = "",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Two scopes side by side (two periods, regions, categories or marketplaces): counts, the rate ratio A/B over
    listings swept with its exact 95% interval, and whether the difference is beyond chance."""
    from service.usecases.supervision import ScopeError, scope_of, side_by_side

    try:
        a = scope_of(a_from, a_to, a_marketplace, a_region, a_category)
        b = scope_of(b_from or a_from, b_to or a_to, b_marketplace, b_region, b_category)
    except ScopeError as exc:
        raise fail(str(exc)) from exc
    with service_store(only_reads=True) as (store, ws):
        result = side_by_side(store, ws.registry.works(), a, b, ws.record)
    if as_json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    table = Table("", "period", "where", "hit listings", "swept", "case findings", "works", "sellers")
    for side in ("a", "b"):
        r = result[side]
        s = r["scope"]
        where = " ".join(x for x in (s["region_name"], s["marketplace"], s["category"]) if x) or "everywhere"
        table.add_row(
            side.upper(),
            f"{s['start']} .. {s['end']}",
            cell(where),
            str(r["hit_listings"]),
            str(r["swept_listings"]),
            str(r["hit_findings"]),
            str(r["works"]),
            str(r["sellers"]),
        )
    console.print(table)
    if result["comparison"]:
        console.print(f"A / B, hits per swept listing: {_change(result['comparison'])}")
    if result["case_comparison"]:
        console.print(f"A / B, case findings per day: {_change(result['case_comparison'])}")
