"""Evidence for court: `report` (a signed bundle with HTML and PDF), `verify-report` and `reproduce`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from service.cli.app import STATE, UNTRUSTED_KEY_EXIT, app, console, engine, err, fail, notice
from service.safe_text import cell, markup_safe


@app.command()
def report(
    suspect: Annotated[str, typer.Argument(help="The suspect image.")],
    out: Annotated[str, typer.Option(help="Folder to write the evidence bundle into.")] = "reports",
    case_number: Annotated[str, typer.Option("--case-number")] = "",
    examiner: Annotated[str, typer.Option()] = "",
    authority: Annotated[str, typer.Option(help="Requesting authority.")] = "",
    obtained: Annotated[str, typer.Option(help="How the file was obtained: upload, seized path, listing URL.")] = "",
    notes: Annotated[str, typer.Option()] = "",
    case_file: Annotated[
        str | None,
        typer.Option(
            "--case-file", help="JSON with case_number, examiner, authority, obtained, notes (options override it)."
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=8)] = 5,
    language: Annotated[str, typer.Option("--language", help="Language of report.html and report.pdf: en, zh.")] = "en",
) -> None:
    """Scan one suspect and write a signed evidence bundle: report.html, report.pdf, evidence.json, inputs."""
    from detector.intake import IntakeError
    from service.i18n import LANGUAGES
    from service.inputs import InputError, expand
    from service.reports.bundle import CaseInfo, build_bundle
    from service.reports.pdf import ReportFontError, cjk_font_file

    if language not in LANGUAGES:
        raise fail(f"--language {language}: one of {', '.join(LANGUAGES)}")
    if language != "en":
        try:
            cjk_font_file()
        except ReportFontError as exc:
            raise fail(str(exc)) from exc

    case = CaseInfo()
    if case_file:
        try:
            record = json.loads(Path(case_file).read_text(encoding="utf-8"))
            case = CaseInfo(**{k: str(v) for k, v in record.items() if k in CaseInfo.__dataclass_fields__})
        except (OSError, ValueError, TypeError) as exc:
            raise fail(f"{case_file}: cannot read the case record ({exc})") from exc
    for k, v in (
        ("case_number", case_number),
        ("examiner", examiner),
        ("authority", authority),
        ("obtained", obtained),
        ("notes", notes),
    ):
        if v:
            setattr(case, k, v)
    items = list(expand([suspect]))
    if len(items) != 1:
        raise fail(f"{suspect}: a report covers exactly one image ({len(items)} found)")
    if items[0].error:
        raise fail(f"{items[0].name}: {items[0].error}")
    with engine() as e:
        try:
            bundle = build_bundle(e, items[0], case, Path(out), top, language)
        except (InputError, IntakeError) as exc:
            raise fail(str(exc)) from exc
    console.print(
        f"evidence bundle written: [bold]{markup_safe(bundle)}[/] (report.html, report.pdf, evidence.json; "
        "manifest signed)"
    )


@app.command("verify-report")
def verify_report(
    bundle: Annotated[str, typer.Argument(help="An evidence bundle folder.")],
    fingerprint: Annotated[
        list[str] | None, typer.Option(help="Trust the signing key with this SHA-256 fingerprint (repeatable).")
    ] = None,
    trusted_keys: Annotated[
        str | None,
        typer.Option("--trusted-keys", help="File of trusted key fingerprints, one per line ('#' starts a comment)."),
    ] = None,
) -> None:
    """Check a bundle's signature and the SHA-256 of every file in it, and say which key signed it and whether that
    key is trusted: the workspace's own (--home), one given with --fingerprint, or one in --trusted-keys.
    Exit 0: intact and trusted; 1: anything changed; 3: intact, but signed by a key nobody vouched for."""
    from service.reports.bundle import verify_bundle

    trusted = _trusted_keys(fingerprint or [], trusted_keys)
    result = verify_bundle(Path(bundle), trusted)
    if not result.ok:
        for p in result.problems:
            err.print(Text("FAIL", style="red") + cell(f": {p}"), highlight=False)
        raise typer.Exit(1)
    key, files, trusted_by = (result.details[k] for k in ("key_fingerprint", "files", "trusted_by"))
    if trusted_by is None:
        console.print(
            cell(
                f"valid signature, untrusted key {key}: {files} files match the manifest, but nothing given vouches "
                "for this key; anyone can re-sign an edited bundle with a key of their own. Compare it with the "
                "examiner's published fingerprint, or name the trusted key with --home, --fingerprint or "
                "--trusted-keys"
            ),
            style="yellow",
            highlight=False,
            soft_wrap=True,  # the fingerprint stays whole on its line, for a reader and for grep
        )
        raise typer.Exit(UNTRUSTED_KEY_EXIT)
    console.print(
        Text("OK", style="green")
        + cell(f": signature valid, {files} files match the manifest; signed by key {key}, trusted as {trusted_by}"),
        highlight=False,
        soft_wrap=True,
    )


def _trusted_keys(fingerprints: list[str], trusted_file: str | None) -> dict[str, str]:
    """Fingerprint -> who vouches for it, from --home, --fingerprint and --trusted-keys."""
    from index.keys import existing_fingerprint
    from index.workspace import resolve_home

    def checked(value: str, where: str) -> str:
        fp = value.strip().lower()
        if len(fp) != 64 or any(c not in "0123456789abcdef" for c in fp):
            raise fail(f"{where}: '{value}' is not a SHA-256 key fingerprint (64 hexadecimal digits)")
        return fp

    trusted: dict[str, str] = {}
    if STATE["home"]:  # given with --home or SEMBLANCE_HOME: that workspace's own key is trusted
        home = resolve_home(STATE["home"])
        try:
            own = existing_fingerprint(home)
        except (OSError, ValueError) as exc:
            raise fail(f"{home}: cannot read the workspace's signing key ({exc})") from exc
        if own is None:
            notice(f"the workspace {home} has no signing key yet (it has made no report), so it vouches for none")
        else:
            trusted[own] = f"the signing key of the workspace {home}"
    for value in fingerprints:
        trusted[checked(value, "--fingerprint")] = "the fingerprint given with --fingerprint"
    if trusted_file:
        try:
            lines = Path(trusted_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"{trusted_file}: cannot read the trusted keys ({exc})") from exc
        for n, line in enumerate(lines, start=1):
            entry = line.split("#", 1)[0].strip()
            if entry:
                fp, _, label = entry.partition(" ")
                where = f"{trusted_file}:{n}"
                trusted[checked(fp, where)] = f"listed in {where}" + (f" ({label.strip()})" if label.strip() else "")
    return trusted


@app.command()
def reproduce(bundle: Annotated[str, typer.Argument(help="An evidence bundle folder.")]) -> None:
    """Recompute every match of a bundle from its own input files; exit 1 if any number differs."""
    from service.reports.bundle import reproduce_bundle
    from service.results import EngineError

    try:
        result = reproduce_bundle(Path(bundle))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EngineError) as exc:
        raise fail(f"{bundle}: not a readable evidence bundle ({exc})") from exc
    rows = result.details.get("matches", [])
    for row in rows if isinstance(rows, list) else []:
        console.print(
            f"{row['ref']}: recorded {row['recorded_score']:.6f} {row['recorded_verdict']}, "
            f"recomputed {row['recomputed_score']:.6f} {row['recomputed_verdict']}"
        )
    if result.ok:
        console.print("[green]reproduced[/]: every feature, score and verdict matches")
        return
    for p in result.problems:
        err.print(f"[red]DIFFERS[/]: {p}", highlight=False)
    raise typer.Exit(1)
