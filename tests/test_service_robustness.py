"""The service under pressure: rate limits, body and pixel caps, a job that outlives its server, and 20 concurrent
scans while a registration runs, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from index.audit import Actor
from service.gate import EngineGate
from service.store import Store
from service.store.cases import Case
from service.store.jobs import Job
from service.web.app import create_app
from service.web.jobs import JobRunner
from service.web.settings import ServiceSettings
from tests.service_support import DEMO, served_over_http, suspect, suspects_zip
from tests.service_support import office as open_office

SUSPECTS = sorted(p.name for p in (DEMO / "suspects").glob("*.jpg"))


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("office")
    with open_office(home) as (_, people, engine):
        yield home, engine, people


def test_rate_limits_answer_429_with_retry_after(office: Any) -> None:
    home, engine, people = office
    with TestClient(create_app(ServiceSettings(home=home, rate_per_minute=5), engine=engine)) as client:
        codes = [client.get("/api/v1/works", headers=people.auth("alice")).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        r = client.get("/api/v1/works", headers=people.auth("alice"))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "error" in r.json()
    with TestClient(create_app(ServiceSettings(home=home, sign_in_per_minute=3), engine=engine)) as client:
        tries = [client.post("/api/v1/session", json={"username": "bob", "password": "guess" * 3}) for _ in range(4)]
        assert [t.status_code for t in tries] == [401, 401, 401, 429]


def test_bodies_over_the_cap_get_413_declared_or_streamed(office: Any) -> None:
    home, engine, people = office
    with TestClient(create_app(ServiceSettings(home=home, max_upload_bytes=20_000), engine=engine)) as client:
        case = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "CAP-1"}).json()["case"]
        url = f"/api/v1/cases/{case['id']}/scans"
        big = suspect("crop_night_cafe.jpg")
        assert len(big) > 20_000
        declared = client.post(url, headers=people.auth("alice"), files={"files": ("big.jpg", big)})
        assert declared.status_code == 413 and "bytes" in declared.json()["error"]

        def chunks() -> Iterator[bytes]:
            for _ in range(0, 60_000, 4096):
                yield b"x" * 4096

        streamed = client.post(
            url, headers=people.auth("alice") | {"content-type": "multipart/form-data; boundary=b"}, content=chunks()
        )
        assert streamed.status_code == 413
        found = client.get(f"/api/v1/cases/{case['id']}/findings", headers=people.auth("alice")).json()
        assert found["total"] == 0


def test_a_picture_over_the_pixel_cap_is_refused_by_name(office: Any) -> None:
    home, engine, people = office
    buf = io.BytesIO()
    Image.new("1", (10_000, 9_000)).save(buf, "PNG")  # 90 MP in a few kB: a decompression bomb
    with TestClient(create_app(ServiceSettings(home=home), engine=engine)) as client:
        case = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "PX-1"}).json()["case"]
        r = client.post(
            f"/api/v1/cases/{case['id']}/scans",
            headers=people.auth("alice"),
            files={"files": ("bomb.png", buf.getvalue())},
        )
        assert r.status_code == 422 and r.json()["error"].startswith("bomb.png:") and "pixel" in r.json()["error"]


def _job_of_every_suspect(store: Store, number: str) -> tuple[Case, Job]:
    """A case of alice's holding every demo suspect, kept as uploads are, and a job to scan them all."""
    alice = store.accounts.by_name("alice")
    assert alice is not None
    case = store.cases.create(number, "", alice.id)
    kept: list[tuple[str, int | None, str]] = []
    for name in SUSPECTS:
        data = suspect(name)
        s = store.findings.receive(case.id, name, data, hashlib.sha256(data).hexdigest(), "user:alice", "test")
        kept.append((name, s.id, ""))
    return case, store.jobs.create(case.id, alice.id, kept)


def test_a_job_cut_off_by_a_restart_resumes_and_records_each_suspect_once(office: Any) -> None:
    home, engine, people = office
    store = Store.open(home)
    try:
        gate = EngineGate(engine)
        case, job = _job_of_every_suspect(store, "RESUME-1")
        runner = JobRunner(store, gate)
        runner.start()
        while (current := store.jobs.job(job.id)) is not None and current.done < 1:
            time.sleep(0.01)
        runner.stop()  # the server goes down mid-job
        cut = store.jobs.job(job.id)
        assert cut is not None and cut.state == "running" and 1 <= cut.done < len(SUSPECTS)
    finally:
        store.close()
    with TestClient(create_app(ServiceSettings(home=home), engine=engine)) as client:  # the server comes back
        for _ in range(600):
            r = client.get(f"/api/v1/cases/{case.id}/jobs/{job.id}", headers=people.auth("alice")).json()
            if r["job"]["state"] == "done":
                break
            time.sleep(0.1)
        assert r["job"]["done"] == len(SUSPECTS) and r["job"]["failed"] == 0
        found = client.get(f"/api/v1/cases/{case.id}/findings", headers=people.auth("alice")).json()["findings"]
        assert sorted(f["suspect"]["name"] for f in found) == SUSPECTS  # each once: nothing lost, nothing twice


def test_two_runners_on_one_job_never_scan_an_item_twice(office: Any) -> None:
    """Two job runners (as two servers' would be; here in one process, which is harder: each claims under a name
    of its own) working one job at once: every item is claimed by one of them, so each suspect is scanned, and
    audited as scanned, exactly once."""
    home, engine, _ = office
    store = Store.open(home)
    try:
        gate = EngineGate(engine)
        _, job = _job_of_every_suspect(store, "TWICE-1")
        runners = [JobRunner(store, gate), JobRunner(store, gate)]  # each claims under a name of its own
        for runner in runners:
            runner.start()
        while (current := store.jobs.job(job.id)) is not None and current.state != "done":
            time.sleep(0.05)
        for runner in runners:
            runner.stop()
        assert current is not None and current.done == len(SUSPECTS)
        scans = [e for e in engine.audit() if e["action"] == "scan" and e["details"].get("job_id") == job.id]
        assert sorted(e["details"]["name"] for e in scans) == SUSPECTS  # each once, by whichever runner claimed it
    finally:
        store.close()


def test_a_claim_whose_process_is_gone_is_taken_over(office: Any) -> None:
    home, _, _ = office
    store = Store.open(home)
    try:
        alice = store.accounts.by_name("alice")
        assert alice is not None
        case = store.cases.create("CLAIM-1", "", alice.id)
        job = store.jobs.create(case.id, alice.id, [("a.jpg", None, ""), ("b.jpg", None, "")])
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        dead = f"{socket.gethostname()} {gone.stdout.strip()}"
        alive = f"{socket.gethostname()} {os.getppid()}"
        held = store.jobs.claim(job.id, alive)
        left = store.jobs.claim(job.id, dead)  # claimed, then its process ended before finishing it
        assert held is not None and left is not None and (held.seq, left.seq) == (0, 1)
        mine = f"{socket.gethostname()} {os.getpid()}"
        taken = store.jobs.claim(job.id, mine)
        assert taken is not None and taken.seq == left.seq  # the dead process's item, taken over
        assert store.jobs.claim(job.id, "another-host 1") is None  # both held by live processes now
    finally:
        store.close()


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_a_zip_of_large_members_is_kept_one_member_at_a_time(office: Any) -> None:
    """Sixteen 16 MiB members (256 MiB in all, about 30:1 compressed, inside the ratio guard) in one upload: each is
    read, kept in custody and let go before the next, so the server's memory grows by a few members' worth, not
    by all of them (before: every member was held at once, 2.2 GB for eight 250 MiB members). RSS is sampled
    while the request runs; the upload's own bytes and the test client's copy of them count too."""
    home, engine, people = office
    member = np.zeros(16 << 20, dtype=np.uint8)
    member[::64] = np.frombuffer(os.urandom(len(member[::64])), dtype=np.uint8)
    member[:3] = (0xFF, 0xD8, 0xFF)  # judged a JPEG by its first bytes, so every member is kept as a suspect
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for i in range(16):
            z.writestr(f"phone/big-{i}.jpg", member.tobytes())
    upload, total_mib = buf.getvalue(), 16 * member.nbytes / 2**20
    del member, buf
    with TestClient(create_app(ServiceSettings(home=home), engine=engine)) as client:
        case = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "BIG-1"}).json()["case"]
        before, peak, done = _rss_mib(), [0.0], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss_mib())
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        r = client.post(f"/api/v1/cases/{case['id']}/scans", headers=people.auth("alice"),
                        files={"files": ("seized.zip", upload)})  # fmt: skip
        done.set()
        sampler.join()
        assert r.status_code == 202, r.text
        client.post(f"/api/v1/cases/{case['id']}/jobs/{r.json()['job']['id']}/cancel", headers=people.auth("alice"))
    grown = peak[0] - before
    assert grown < total_mib / 2, f"memory grew {grown:.0f} MiB while keeping members of {total_mib:.0f} MiB in all"


def test_an_upload_without_credentials_is_refused_before_its_body_is_read(office: Any) -> None:
    """A 300 MB upload announced without credentials: the 401 comes from its headers alone, while the client has
    sent only its first 64 KiB (before, the server read and spooled the whole body first). A page's form gets the
    sign-in page instead, equally unread."""
    home, engine, _ = office
    app = create_app(ServiceSettings(home=home), engine=engine)
    with served_over_http(app) as base:
        host, port = base.removeprefix("http://").split(":")
        for path, status in (("/api/v1/cases/1/scans", b"401"), ("/cases", b"303")):
            with socket.create_connection((host, int(port)), timeout=10) as conn:
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 300000000\r\n"
                    "Content-Type: multipart/form-data; boundary=x\r\n\r\n"
                )
                conn.sendall(head.encode() + b"x" * 65536)
                answer = conn.recv(4096)  # the rest of the body is never sent: only an early answer can come
                head_end = answer.find(b"\r\n\r\n")
                length = re.search(rb"content-length: (\d+)", answer.lower())
                while length and len(answer) < head_end + 4 + int(length.group(1)):
                    answer += conn.recv(4096)  # the JSON body may follow the head in a second packet
            assert answer.split(b" ", 2)[1] == status, answer[:200]
            if status == b"401":
                assert b"sign in or send an API key" in answer and b"www-authenticate: bearer" in answer.lower()
            else:
                assert b"location: /login?next=/cases" in answer.lower()


def test_scan_workers_answer_health_at_once_and_a_full_queue_with_503(office: Any) -> None:
    """With a worker process scanning, the web process stays free: /healthz answers while scans run, and past the
    queue bound a scan is told to come back (503 with Retry-After) instead of waiting."""
    home, engine, people = office
    app = create_app(ServiceSettings(home=home, scan_workers=1, scan_queue=2), engine=engine)
    with served_over_http(app) as base, httpx.Client(base_url=base, trust_env=False, timeout=120) as http:
        case = http.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "POOL-1"}).json()["case"]
        url = f"/api/v1/cases/{case['id']}/scans"
        alone = http.post(url, headers=people.auth("alice"), files={"files": ("c.jpg", suspect("crop_night_cafe.jpg"))})
        assert alone.status_code == 200 and alone.json()["verdict"] == "copy"  # scanned in the worker, as in-process
        assert alone.json()["matches"][0]["ref"] == "vangogh-night-cafe"

        def one(i: int) -> httpx.Response:
            name = SUSPECTS[i % len(SUSPECTS)]
            return http.post(url, headers=people.auth("alice"), files={"files": (f"{i}-{name}", suspect(name))})

        with ThreadPoolExecutor(8) as clients:
            pending = clients.map(one, range(8))
            health = []
            for _ in range(5):
                t0 = time.perf_counter()
                assert http.get("/healthz").status_code == 200
                health.append(time.perf_counter() - t0)
            answers = list(pending)
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 503} and 200 in codes and 503 in codes, codes
    refused = next(a for a in answers if a.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1 and "try again" in refused.json()["error"]
    assert max(health) < 1.0, health  # the event loop never waits on a scan


def test_a_scan_worker_killed_mid_scan_fails_that_suspect_only_and_is_replaced(office: Any) -> None:
    """A worker that dies (the out-of-memory killer, a decoder's crash) fails the suspect it held with the reason,
    and the next suspect gets a fresh worker instead of every later scan failing."""
    from service.scan_pool import ScanPool

    home, _, _ = office
    pool = ScanPool(home, workers=1)
    try:
        (worker,) = pool._pool._processes.values()  # type: ignore[union-attr]
        os.kill(worker.pid, signal.SIGKILL)
        time.sleep(0.5)
        failed = pool.scan("crop.jpg", suspect("crop_night_cafe.jpg"), 5)
        assert failed["verdict"] is None and "scan process stopped" in str(failed["error"])
        again = pool.scan("crop.jpg", suspect("crop_night_cafe.jpg"), 5)
        assert again["verdict"] == "copy"
    finally:
        pool.close()


def test_twenty_concurrent_scans_during_a_registration_lose_nothing(office: Any, tmp_path: Path) -> None:
    home, engine, people = office
    app = create_app(ServiceSettings(home=home), engine=engine)
    with served_over_http(app) as base, httpx.Client(base_url=base, trust_env=False, timeout=120) as http:
        case = http.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "LOAD-1"}).json()["case"]
        new_work = Image.open(io.BytesIO(suspect("unrelated_coffee.jpg"))).rotate(180)
        buf = io.BytesIO()
        new_work.save(buf, "JPEG", quality=92)

        def register() -> Any:
            return http.post(
                "/api/v1/works",
                headers=people.auth("registrar"),
                files={"files": ("coffee-upside-down.jpg", buf.getvalue())},
                data={"ref": "coffee-upside-down", "title": "registered during the load"},
            )

        def scan(i: int) -> Any:
            name = SUSPECTS[i % len(SUSPECTS)]
            return http.post(
                f"/api/v1/cases/{case['id']}/scans",
                headers=people.auth("alice"),
                files={"files": (f"{i:02d}-{name}", suspect(name))},
            )

        with ThreadPoolExecutor(21) as pool:
            registering = pool.submit(register)
            results = list(pool.map(scan, range(20)))
        assert registering.result().status_code == 200
        assert [r.status_code for r in results] == [200] * 20
        found = http.get(f"/api/v1/cases/{case['id']}/findings", headers=people.auth("alice")).json()
        assert found["total"] == 20
        assert sorted(f["suspect"]["name"] for f in found["findings"]) == sorted(
            f"{i:02d}-{SUSPECTS[i % len(SUSPECTS)]}" for i in range(20)
        )
        again = http.post(
            f"/api/v1/cases/{case['id']}/scans",
            headers=people.auth("alice"),
            files={"files": ("again.jpg", buf.getvalue())},
        ).json()
        assert again["verdict"] == "copy" and again["matches"][0]["ref"] == "coffee-upside-down"  # index consistent


def test_a_cancelled_job_stops_between_items_and_keeps_what_it_found(office: Any) -> None:
    home, engine, people = office
    app = create_app(ServiceSettings(home=home), engine=engine)
    with TestClient(app) as client:
        case = client.post("/api/v1/cases", headers=people.auth("alice"), json={"number": "CANCEL-1"}).json()["case"]
        gate = app.state.gate
        with gate.use(Actor("user:test", "holding the engine")):  # the runner waits for the engine meanwhile
            r = client.post(
                f"/api/v1/cases/{case['id']}/scans",
                headers=people.auth("alice"),
                files={"files": ("p.zip", suspects_zip(SUSPECTS))},
            )
            assert r.status_code == 202
            job_id = r.json()["job"]["id"]
            cancelled = client.post(f"/api/v1/cases/{case['id']}/jobs/{job_id}/cancel", headers=people.auth("alice"))
            assert cancelled.json()["job"]["state"] == "cancelled"
        time.sleep(1.0)  # the item the runner had in hand finishes; no other starts
        job = client.get(f"/api/v1/cases/{case['id']}/jobs/{job_id}", headers=people.auth("alice")).json()["job"]
        assert job["state"] == "cancelled" and job["done"] <= 1 < job["total"]
        found = client.get(f"/api/v1/cases/{case['id']}/findings", headers=people.auth("alice")).json()
        assert found["total"] == job["done"]
