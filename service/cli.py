"""The `semblance` command line. Command names and JSON fields are a public contract: extend, never break.

semblance [--home H] init [--embedder auto|effnet-lite0|clip:MODEL:TAG_OR_PATH]
semblance register PATH... [--ref R --title T --author A --rights-holder O] | --manifest works.csv
semblance scan PATH... | --manifest suspects.csv [--top K] [--jsonl OUT]
semblance works list | show REF | remove REF
semblance audit show [--ref REF] | verify
semblance info
semblance models fetch SPEC
semblance serve [--host H --port P] | users add NAME --role R | api-keys create NAME | list | revoke ID
semblance sweep LISTINGS --out RUN_DIR [--reports] [--allow NET] [--runner local|ray] | offenders [--json]
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from detector.intake import IntakeError
from service.engine import Engine, EngineError, RegisterOutcome, ScanResult, WorkMetadata
from service.inputs import IMAGE_SUFFIXES, InputError, InputItem, display, expand, from_manifest
from service.safe_text import cell, markup_safe
from service.time_budget import DEFAULT_ITEM_SECONDS

if TYPE_CHECKING:
    from index.workspace import Workspace
    from service.store import Store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Register original works and scan suspect images for copies, crops, collages and AI re-renderings of them.",
)
works_app = typer.Typer(no_args_is_help=True, help="List, show and remove registered works.")
models_app = typer.Typer(no_args_is_help=True, help="Manage embedder weights (the only command that downloads).")
audit_app = typer.Typer(no_args_is_help=True, help="Show and verify the audit trail (a hash chain of every action).")
app.add_typer(works_app, name="works")
app.add_typer(audit_app, name="audit")
app.add_typer(models_app, name="models")
users_app = typer.Typer(no_args_is_help=True, help="Users of the web service (`semblance serve`).")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for machines using the web service.")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="api-keys")

console = Console()
err = Console(stderr=True)
STATE: dict[str, str | None] = {"home": None}

MANIFEST_FIELDS = ("ref", "title", "author", "rights_holder", "registration_no", "source_url")
UNTRUSTED_KEY_EXIT = 3
"""`verify-report` exit code for a bundle whose signature is valid but whose key nobody vouched for."""

ItemTimeoutOption = Annotated[
    float,
    typer.Option(
        "--item-timeout", min=0, help="Seconds one input may take before it is reported as an error (0: no limit)."
    ),
]


@app.callback()
def _main(
    home: Annotated[
        str | None, typer.Option("--home", envvar="SEMBLANCE_HOME", help="Workspace folder (default ./semblance-data).")
    ] = None,
) -> None:
    STATE["home"] = home


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` (data in it is never taken as markup) and return the exit to raise."""
    err.print(f"[bold red]error:[/] {markup_safe(message)}", highlight=False)
    return typer.Exit(code)


def notice(message: str) -> None:
    err.print(Text("note: ", style="yellow") + cell(message), highlight=False)


@contextmanager
def engine(embedder: str | None = None, item_seconds: float = DEFAULT_ITEM_SECONDS) -> Iterator[Engine]:
    """The workspace's engine; a read-only workspace is stated once, and waits for its lock are announced."""
    try:
        e = Engine.open(STATE["home"], embedder)
    except EngineError as exc:
        raise fail(str(exc)) from exc
    e.workspace.notify = notice
    e.item_seconds = item_seconds or None
    if e.workspace.read_only is not None:
        notice(e.workspace.read_only_notice())
    try:
        yield e
    except EngineError as exc:
        raise fail(str(exc)) from exc
    finally:
        e.close()


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


@app.command()
def init(
    embedder: Annotated[
        list[str] | None,
        typer.Option(
            "--embedder",
            help="auto | effnet-lite0 | sscd-distilled | sscd | clip:MODEL:TAG_OR_PATH; repeat to enable several.",
        ),
    ] = None,
    max_pixels: Annotated[int, typer.Option(help="Refuse images with more pixels (decompression bombs).")] = 80_000_000,
) -> None:
    """Create a workspace."""
    try:
        e = Engine.init(STATE["home"], embedder or ["auto"], max_pixels)
    except (EngineError, RuntimeError, OSError) as exc:
        raise fail(str(exc)) from exc
    specs = ", ".join(e.workspace.embedder_specs)
    console.print(f"workspace [bold]{markup_safe(e.workspace.home)}[/] ready; embedders: {markup_safe(specs)}")
    e.close()


@app.command()
def register(
    paths: Annotated[list[str] | None, typer.Argument(help="Image files, folders or .zip archives.")] = None,
    manifest: Annotated[
        str | None,
        typer.Option(help="CSV with path, ref[, title, author, rights_holder, registration_no, source_url]."),
    ] = None,
    ref: Annotated[str | None, typer.Option(help="Reference for a single work (default: file name).")] = None,
    title: Annotated[str, typer.Option()] = "",
    author: Annotated[str, typer.Option()] = "",
    rights_holder: Annotated[str, typer.Option("--rights-holder")] = "",
    registration_no: Annotated[str, typer.Option("--registration-no")] = "",
    source_url: Annotated[str, typer.Option("--source-url")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print outcomes as JSON lines.")] = False,
    item_timeout: ItemTimeoutOption = DEFAULT_ITEM_SECONDS,
) -> None:
    """Register original works (duplicates by SHA-256 are reported, not stored twice). Each outcome is printed as
    soon as it is committed."""
    if bool(paths) == bool(manifest):
        raise fail("give image PATHs or --manifest, not both or neither")
    try:
        if manifest:
            items = [(i, _meta_from_row(i.row)) for i in from_manifest(manifest, ("path", "ref"))]
        else:
            found = list(expand(paths or []))
            if ref and len(found) > 1:
                raise fail(f"--ref names one work but {len(found)} files were given")
            # arguments are text a person typed, but bytes that are not UTF-8 must not reach the registry
            t = display
            meta = WorkMetadata(t(ref or ""), t(title), t(author), t(rights_holder), t(registration_no), t(source_url))
            items = [(i, meta) for i in found]
    except InputError as exc:
        raise fail(str(exc)) from exc
    counts = {"registered": 0, "duplicate": 0, "error": 0}
    try:
        with engine(item_seconds=item_timeout) as e, progress() as bar:
            task = bar.add_task("registering", total=len(items))
            for outcome in e.register_each(items):
                bar.advance(task)
                counts[outcome.status] += 1
                _print_registration(outcome, as_json)
    finally:
        if not as_json:
            done = f"{counts['registered']} registered, {counts['duplicate']} duplicate, {counts['error']} failed"
            console.print(done)


def _meta_from_row(row: dict[str, str]) -> WorkMetadata:
    extra = {k: v for k, v in row.items() if k not in (*MANIFEST_FIELDS, "path") and v}
    return WorkMetadata(**{k: row.get(k, "") for k in MANIFEST_FIELDS}, extra=extra)


def _print_registration(o: RegisterOutcome, as_json: bool) -> None:
    """One outcome, printed (and flushed) the moment it is known."""
    if as_json:
        print(json.dumps(o.to_json(), ensure_ascii=False), flush=True)
        return
    colours = {"registered": "green", "duplicate": "yellow", "error": "red"}
    line = cell(f"{o.status:<10}", colours[o.status]) + "  " + cell(o.ref or "-") + "  " + cell(o.path)
    if o.message:
        line += cell(f"  ({o.message})", "dim")
    console.print(line, highlight=False, soft_wrap=True)
    console.file.flush()


@app.command()
def scan(
    paths: Annotated[list[str] | None, typer.Argument(help="Suspect files, folders or .zip archives.")] = None,
    manifest: Annotated[str | None, typer.Option(help="CSV with a `path` column.")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Matches to report per suspect.")] = 5,
    jsonl: Annotated[
        str | None,
        typer.Option(help="Write one JSON line per suspect to this new file ('-': stdout); never over an input."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --jsonl replace an existing file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array instead of tables.")] = False,
    near_misses: Annotated[bool, typer.Option("--near-misses", help="Also list candidates judged no_match.")] = False,
    embedder: Annotated[str | None, typer.Option(help="Embedder to query with (must be enabled).")] = None,
    all_files: Annotated[
        bool, typer.Option("--all-files", help="In folders, try every file, not just image suffixes.")
    ] = False,
    item_timeout: ItemTimeoutOption = DEFAULT_ITEM_SECONDS,
) -> None:
    """Scan suspect images against the registered works."""
    if bool(paths) == bool(manifest):
        raise fail("give suspect PATHs or --manifest, not both or neither")
    try:
        items: list[InputItem] = list(from_manifest(manifest)) if manifest else list(expand(paths or [], all_files))
    except InputError as exc:
        raise fail(str(exc)) from exc
    if jsonl and jsonl != "-":
        _check_output(jsonl, items, [manifest] if manifest else [], force)
    results: list[ScanResult] = []
    sink: TextIO | None = None
    try:
        with engine(embedder, item_timeout) as e, progress() as bar:
            _ = e.calibration  # no calibration, no scan: refused before the output file is made
            if jsonl:  # opened only now: arguments and workspace are valid, so a failed command truncates nothing
                sink = sys.stdout if jsonl == "-" else open(jsonl, "w" if force else "x", encoding="utf-8")  # noqa: SIM115
            task = bar.add_task("scanning", total=len(items))
            for r in e.scan_many(items, top, near_misses):
                bar.advance(task)
                if sink:
                    sink.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
                    sink.flush()
                r.image = None
                results.append(r)
            e.record("scan", _custody(results))
    except OSError as exc:
        raise fail(f"{jsonl}: cannot write ({exc.strerror or exc})") from exc
    finally:
        if sink and sink is not sys.stdout:
            sink.close()
    if as_json:
        print(json.dumps([r.to_json() for r in results], indent=2, ensure_ascii=False))
    elif jsonl != "-":
        _print_scan(results)


def _custody(results: list[ScanResult]) -> dict[str, object]:
    """What a scan batch's audit entry records: every input's name, the SHA-256 of its bytes as read, and its
    verdict (or that it could not be compared): the chain of custody of what was examined."""
    verdicts: dict[str, int] = {}
    for r in results:
        key = r.verdict if r.error is None else "unreadable"
        verdicts[key] = verdicts.get(key, 0) + 1
    files = [[r.path, r.sha256, r.verdict if r.error is None else "unreadable"] for r in results]
    return {"inputs": len(results), "verdicts": verdicts, "files": files}


def _check_output(target: str, items: list[InputItem], extra_inputs: list[str], force: bool) -> None:
    """Refuse an output file that is an input, looks like evidence (an image or archive), or exists (without
    --force): scanning must never destroy what it was given."""
    suffix = Path(target).suffix.lower()
    if suffix in IMAGE_SUFFIXES or suffix == ".zip":
        raise fail(f"{target}: refusing to write JSON lines over a file named like an image or archive (evidence?)")
    if not os.path.lexists(target):
        return
    sources = {i.source_path for i in items if i.source_path} | set(extra_inputs)
    for source in sources:
        try:
            same = os.path.samefile(source, target)
        except OSError:
            continue
        if same:
            raise fail(f"{target}: is one of the inputs of this scan; refusing to write over it")
    if not force:
        raise fail(f"{target}: already exists; choose a new file, or give --force to replace it")


def _bbox(poly: list[tuple[float, float]]) -> str:
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    return f"{min(xs):.0f},{min(ys):.0f}-{max(xs):.0f},{max(ys):.0f}"


def _print_scan(results: list[ScanResult]) -> None:
    colours = {"copy": "bold red", "derivative": "magenta", "no_match": "green"}
    table = Table("suspect", "verdict", "work", "score", "match", "agreeing", "region (x0,y0-x1,y1)", title="scan")
    for r in results:
        name = cell(Path(r.path).name)
        if r.error is not None:
            table.add_row(name, cell("error", "red"), "", "", "", cell(r.error), "")
            continue
        if not r.matches:
            table.add_row(name, cell("no_match", colours["no_match"]), "", "", "", "", "")
        for i, m in enumerate(r.matches):
            region = "" if m.region is None else f"{m.region_source} " + _bbox(m.region)
            first = i == 0
            table.add_row(
                name if first else "",
                cell(r.verdict, colours[r.verdict]) if first else "",
                cell(m.ref),
                f"{m.score:.3f}",
                cell(m.verdict, colours[m.verdict]),
                ", ".join(m.agreeing_signals),
                region,
            )
    console.print(table)
    n_err = sum(r.error is not None for r in results)
    verdicts = [r.verdict for r in results if r.error is None]
    console.print(
        f"{len(results)} scanned: {verdicts.count('copy')} copy, {verdicts.count('derivative')} derivative, "
        f"{verdicts.count('no_match')} no match, {n_err} unreadable"
    )


@works_app.command("list")
def works_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List registered works."""
    with engine() as e:
        works = e.works()
    if as_json:
        print(json.dumps([w.to_json() for w in works], indent=2, ensure_ascii=False))
        return
    table = Table("ref", "title", "author", "rights holder", "size", "sha256", "registered", title="works")
    for w in works:
        table.add_row(
            *map(cell, (w.ref, w.title, w.author, w.rights_holder)),
            f"{w.width}x{w.height}",
            w.sha256[:16] + "…",
            cell(w.registered_at),
        )
    console.print(table)


@works_app.command("show")
def works_show(ref: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show one work's registration record and audit trail."""
    with engine() as e:
        w = e.work(ref)
        trail = e.audit(ref)
        vault = str(e.workspace.vault.path(w.sha256)) if w else ""
    if w is None:
        raise fail(f"no registered work with ref '{ref}'")
    record = {**w.to_json(), "vault_path": vault, "audit": trail}
    if as_json:
        print(json.dumps(record, indent=2, ensure_ascii=False))
        return
    table = Table("field", "value", title=cell(f"work {ref}"), show_header=False)
    for k, v in record.items():
        table.add_row(k, cell(json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v))
    console.print(table)


@works_app.command("remove")
def works_remove(ref: str, reason: Annotated[str, typer.Option(help="Recorded in the audit trail.")] = "") -> None:
    """Unregister a work; the audit trail records it and the vault keeps the file."""
    with engine() as e:
        removed = e.remove(ref, reason)
    if removed is None:
        raise fail(f"no registered work with ref '{ref}'")
    console.print(
        cell(f"removed '{ref}' (sha256 {removed.sha256}); the audit trail records the removal"), highlight=False
    )


@audit_app.command("show")
def audit_show(
    ref: Annotated[str | None, typer.Option(help="Only the entries of this work's ref.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every audit entry in order: when, what, which file, who and from where, and its hash."""
    with engine() as e:
        trail = e.audit(ref)
    if as_json:
        print(json.dumps(trail, indent=2, ensure_ascii=False))
        return
    table = Table("id", "at", "action", "ref", "who", "origin", "hash", title="audit trail")
    for t in trail:
        table.add_row(*(cell(str(t[k])) for k in ("id", "at", "action", "ref", "who", "origin")), str(t["hash"])[:12])
    console.print(table)


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check the audit trail's hash chain: exit 0 when intact, 1 when an entry was edited, deleted, reordered or cut
    off (each problem is named)."""
    with engine() as e:
        chain = e.workspace.registry.verify_audit()
    if as_json:
        print(json.dumps({"intact": chain.intact, "entries": chain.entries, "problems": chain.problems}))
    elif chain.intact:
        head = f"; head: entry {chain.head[0]}, {chain.head[1]}" if chain.head else ""
        console.print(cell(f"audit trail intact: {chain.entries} entries{head}"), highlight=False)
    else:
        for problem in chain.problems:
            err.print(Text("BROKEN: ", style="bold red") + cell(problem), highlight=False)
    if not chain.intact:
        raise typer.Exit(1)


@app.command()
def info(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Workspace, embedders, counts and thresholds."""
    with engine() as e:
        data = e.info()
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return
    table = Table("field", "value", title="semblance workspace", show_header=False)
    for k, v in data.items():
        table.add_row(k, cell(json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v))
    console.print(table)


@app.command()
def calibrate(
    manifest: Annotated[
        str | None, typer.Option(help="Labelled CSV (path, role, pair_id: the shared/eval format), not synthetic.")
    ] = None,
    root: Annotated[str | None, typer.Option(help="Folder the manifest's paths are relative to.")] = None,
    negatives: Annotated[
        str | None,
        typer.Option(help="Folder of images unrelated to the works: half the background set, half negatives."),
    ] = None,
    per_work: Annotated[int, typer.Option(min=1, help="Synthetic transformations per registered work.")] = 6,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic transformations.")] = 20261202,
    embedder: Annotated[str | None, typer.Option(help="Enabled embedder to calibrate (default: the primary).")] = None,
) -> None:
    """Fit this workspace's own calibration for an embedder, with measured error rates."""
    from service.calibrate import calibrate as run_calibration
    from service.calibrate import describe_rates

    if manifest and negatives:
        raise fail("give --manifest (its distractors are the negatives) or --negatives, not both")
    for given in (manifest, root, negatives):
        if given and not os.path.exists(given):
            raise fail(f"{given}: not found")
    with engine(embedder) as e, progress() as bar:
        task = bar.add_task("calibrating", total=None)
        outcome = run_calibration(
            e,
            Path(manifest) if manifest else None,
            Path(root) if root else None,
            Path(negatives) if negatives else None,
            per_work,
            seed,
            lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        Text(
            f"calibrated {outcome.model.embedder} on {outcome.works} works, {outcome.queries} queries "
            f"({outcome.background_images} background images): {outcome.path}"
        )
    )
    for line in describe_rates(outcome.rates):
        console.print(Text(line))


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
    from service.i18n import LANGUAGES
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


@models_app.command("fetch")
def models_fetch(
    spec: Annotated[str, typer.Argument(help="clip:MODEL:TAG, e.g. clip:ViT-B-32:laion2b_s34b_b79k")],
) -> None:
    """Download CLIP weights into the local cache (needs internet; nothing else ever downloads)."""
    from detector.embedders import parse_spec, spec_for

    try:
        kind = spec_for(spec)
        _, model, tag = parse_spec(spec)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if not kind.fetchable:
        console.print(f"{spec} ships with Semblance; nothing to fetch")
        return
    try:
        import open_clip

        open_clip.create_model_and_transforms(model, pretrained=tag)
    except Exception as exc:  # network, unknown tag: say what happened, no traceback
        raise fail(f"could not fetch {spec}: {exc}") from exc
    console.print(f"fetched {spec}; `semblance init --embedder {spec}` can now use it offline")


@app.command()
def sweep(
    listings: Annotated[str, typer.Argument(help="LISTINGS.csv, LISTINGS.jsonl, or a folder of such files.")],
    out: Annotated[str, typer.Option("--out", help="The run folder: rerun with the same one to resume.")],
    reports: Annotated[bool, typer.Option("--reports", help="Write a signed evidence bundle for every hit.")] = False,
    allow: Annotated[
        list[str] | None,
        typer.Option("--allow", help="Network fetched from although private or local (repeatable), e.g. 10.2.0.0/16."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Images fetched or read ahead in parallel.")] = 8,
    top: Annotated[int, typer.Option("--top", min=1, max=20)] = 5,
    runner: Annotated[str, typer.Option("--runner", help="local (this machine) or ray (a Ray cluster).")] = "local",
) -> None:
    """Sweep marketplace listings: fetch or read every image, scan it, link sellers, listings and works in the
    offender store; writes results.jsonl, hits.csv and summary.html into the run folder. Resumable."""
    from index.migrations import SchemaVersionError
    from service.sweep.fetch import FetchPolicy
    from service.sweep.listings import ListingError, read_listings
    from service.sweep.netguard import AllowList
    from service.sweep.outputs import write_outputs
    from service.sweep.run import Counts, RunFolder, SweepOptions, sweep_local

    if runner not in ("local", "ray"):
        raise fail(f"--runner {runner}: local or ray")
    try:
        policy = FetchPolicy(allow=AllowList.parse(allow or []))
        found = list(read_listings(listings))
    except (ListingError, ValueError) as exc:
        raise fail(str(exc)) from exc
    options = SweepOptions(top_k=top, workers=workers, fetch=policy, reports=reports)
    folder = Path(out)
    try:
        RunFolder(folder).close()  # a run folder from a newer Semblance is refused before anything runs
    except SchemaVersionError as exc:
        raise fail(str(exc)) from exc
    with engine() as e, service_store() as (store, _):
        if runner == "ray":
            from service.sweep.ray_runner import sweep_ray

            sweep_ray(e, store, found, folder, listings, options)
        else:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                console=err,
                disable=not err.is_terminal,
            ) as bar:
                task = bar.add_task("sweeping", total=None, rate="")
                started: list[float] = []  # when, and how many were done, at this session's first image

                def progress(counts: Counts, total: int) -> None:
                    now = time.monotonic()
                    if not started:
                        started.extend((now, counts.done - 1))  # a resumed run's earlier images are not its rate
                    rate = (counts.done - started[1]) / max(now - started[0], 1e-6)
                    bar.update(task, completed=counts.done, total=total, rate=f"{rate:.1f} img/s, {counts.hits} hits")

                counts = sweep_local(e, store, found, folder, listings, options, progress)
            for problem in counts.problems:
                notice(problem)
        try:
            final = write_outputs(folder, store, e, reports)
        except OSError as exc:
            raise fail(f"{folder}: cannot write the outputs ({exc.strerror or exc})") from exc
    console.print(f"{final.line()}; results in {markup_safe(folder)}/ (results.jsonl, hits.csv, summary.html)")


@app.command()
def offenders(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    seller: Annotated[int | None, typer.Option("--seller", help="The listings and findings behind one seller.")] = None,
) -> None:
    """Rank sellers by the evidence against them (a score you can recompute: see `--json`'s score_components),
    with linked accounts, images reused by several sellers and the works most infringed."""
    from service.store.offenders import SCORE_WEIGHTS

    with service_store() as (store, ws):
        if seller is not None:
            rows = store.offenders.evidence(seller)
            ws.registry.record("offenders", {"seller_id": seller})
            if as_json:
                print(json.dumps(rows, indent=2, ensure_ascii=False))
                return
            table = Table("seen", "marketplace", "listing", "image", "work", "verdict", "score", "finding")
            for r in rows:
                table.add_row(
                    *(
                        cell(str(r[k]))
                        for k in (
                            "seen_at",
                            "marketplace",
                            "listing_key",
                            "source",
                            "ref",
                            "verdict",
                            "score",
                            "finding_id",
                        )
                    )
                )
            console.print(table)
            return
        ranking = [r.to_json() for r in store.offenders.ranking(limit)]
        shared = store.offenders.shared_images()
        works = store.offenders.works_most_infringed(limit)
        ws.registry.record("offenders", {"limit": limit})
    if as_json:
        report = {
            "score_weights": {k: {"weight": w, "why": why} for k, (w, why) in SCORE_WEIGHTS.items()},
            "sellers": ranking,
            "shared_images": shared,
            "works_most_infringed": works,
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    table = Table(
        "score",
        "seller",
        "marketplace",
        "works copied",
        "derived only",
        "hit listings",
        "linked",
        "first",
        "last",
        "id",
    )
    for r in ranking:
        linked = ", ".join(f"{x['seller']}@{x['marketplace']}" for x in r["linked_sellers"])
        table.add_row(
            f"{r['score']:.1f}",
            cell(r["name"] or r["seller"]),
            cell(r["marketplace"]),
            str(r["works_copied"]),
            str(r["works_derived_only"]),
            str(r["hit_listings"]),
            cell(linked),
            r["first_seen"][:10],
            r["last_seen"][:10],
            str(r["seller_id"]),
        )
    console.print(table)
    console.print(
        "score = "
        + " + ".join(f"{w:g} x {k}" for k, (w, _) in SCORE_WEIGHTS.items())
        + "; `semblance offenders --seller ID` lists the evidence behind a row"
    )


@contextmanager
def service_store() -> Iterator[tuple[Store, Workspace]]:
    """The workspace's service store (users, keys, cases) and the workspace, for the account commands."""
    from index.workspace import Workspace, WorkspaceError, resolve_home
    from service.store import Store
    from service.store.database import StoreVersionError

    try:
        ws = Workspace(resolve_home(STATE["home"]))
    except WorkspaceError as exc:
        raise fail(str(exc)) from exc
    if ws.read_only is not None:
        ws.close()
        raise fail(ws.read_only_notice())
    try:
        store = Store.open(ws.home)
    except (StoreVersionError, OSError, sqlite3.Error) as exc:
        ws.close()
        raise fail(f"{ws.home}: cannot open the service store ({exc})") from exc
    try:
        yield store, ws
    finally:
        store.close()
        ws.close()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise fail("the two passwords differ")
    return first


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="The sign-in name.")],
    role: Annotated[str, typer.Option(help="admin | registrar | investigator | auditor")],
    language: Annotated[str, typer.Option(help="en | zh (empty: follow the browser)")] = "",
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
) -> None:
    """Add a user of the web service (the first admin is made here); the password is asked twice unless piped."""
    from service.store.accounts import AccountError

    password = _password(password_stdin)
    with service_store() as (store, ws):
        try:
            user = store.accounts.add_user(username, password, role, language)
        except AccountError as exc:
            raise fail(str(exc)) from exc
        ws.registry.record("user added", {"username": user.username, "role": user.role})
    console.print(f"user [bold]{markup_safe(user.username)}[/] added as {user.role} (id {user.id})")


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the web service's users."""
    with service_store() as (store, _):
        users = [u.to_json() for u in store.accounts.users()]
    if as_json:
        print(json.dumps(users, indent=2, ensure_ascii=False))
        return
    table = Table("id", "username", "role", "language", "created")
    for u in users:
        table.add_row(str(u["id"]), cell(str(u["username"])), str(u["role"]), str(u["language"]), str(u["created_at"]))
    console.print(table)


@keys_app.command("create")
def api_keys_create(
    username: Annotated[str, typer.Argument(help="The user the key acts as (its role applies).")],
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
) -> None:
    """Create an API key for a user; its secret is printed this once and stored only as a hash."""
    with service_store() as (store, ws):
        user = store.accounts.by_name(username)
        if user is None:
            raise fail(f"no user {username!r}: add one with `semblance users add`")
        secret, key = store.accounts.create_key(user.id, label)
        ws.registry.record("api key created", {"key_id": key.id, "user_id": user.id, "label": label})
    err.print(f"API key {key.id} for {markup_safe(user.username)} ({user.role}); shown once, store it now:")
    print(secret)


@keys_app.command("list")
def api_keys_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List API keys (never their secrets)."""
    with service_store() as (store, _):
        keys = [k.to_json() for k in store.accounts.api_keys()]
    if as_json:
        print(json.dumps(keys, indent=2, ensure_ascii=False))
        return
    table = Table("id", "user", "prefix", "label", "created", "revoked")
    for k in keys:
        columns = ("id", "user_id", "prefix", "label", "created_at", "revoked_at")
        table.add_row(*(cell(str(k[c] or "")) for c in columns))
    console.print(table)


@keys_app.command("revoke")
def api_keys_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (from `api-keys list`).")]) -> None:
    """Revoke an API key at once."""
    with service_store() as (store, ws):
        key = store.accounts.revoke_key(key_id)
        if key is None:
            raise fail(f"no API key {key_id}")
        ws.registry.record("api key revoked", {"key_id": key.id, "user_id": key.user_id})
    console.print(f"API key {key.id} revoked")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for the office network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    tls_cert: Annotated[str | None, typer.Option("--tls-cert", help="The office's certificate (PEM).")] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="Its private key (PEM).")] = None,
    tls_self_signed: Annotated[
        bool, typer.Option("--tls-self-signed", help="Serve https with a certificate made and kept in the workspace.")
    ] = False,
    proxy: Annotated[
        bool, typer.Option("--behind-proxy", help="Trust X-Forwarded-* from 127.0.0.1 (a TLS proxy in front).")
    ] = False,
) -> None:
    """Start the web service (API under /api/v1, web UI at /) over this workspace."""
    import uvicorn

    from service.web.app import create_app
    from service.web.settings import ServiceSettings
    from service.web.tls import self_signed

    if bool(tls_cert) != bool(tls_key):
        raise fail("--tls-cert and --tls-key go together")
    with engine() as e:
        with service_store() as (store, _):
            if not any(u.role == "admin" for u in store.accounts.users()):
                notice("no admin yet: add one with `semblance users add NAME --role admin`")
        ssl: dict[str, str] = {}
        if tls_self_signed:
            cert, key, fp = self_signed(e.workspace.home / "tls")
            ssl = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
            # emoji=False: Rich would turn a fingerprint's ":AB:" into an emoji (it did, now and then, in a test)
            console.print(f"TLS certificate SHA-256 fingerprint (check it in the browser once): {fp}", emoji=False)
        elif tls_cert and tls_key:
            ssl = {"ssl_certfile": tls_cert, "ssl_keyfile": tls_key}
        scheme = "https" if ssl else "http"
        console.print(f"Semblance serving {markup_safe(e.workspace.home)} at {scheme}://{host}:{port}/")
        app_ = create_app(ServiceSettings(home=e.workspace.home), engine=e)
        uvicorn.run(app_, host=host, port=port, proxy_headers=proxy, forwarded_allow_ips="127.0.0.1", **ssl)  # type: ignore[arg-type]


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
