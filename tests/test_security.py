"""The findings of the security test (issue 13), each against the real server over loopback HTTP: foreign
origins, DNS-rebinding host names, oversized bodies, login guessing and token lifetime, download ownership, files
at rest, per-login fairness and inert Markdown."""
from __future__ import annotations

import dataclasses
import http.client
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import free_port, launch_app

ROOT = Path(__file__).resolve().parent.parent
STATUS = 10
ACCOUNTS = "sana:ana-secret-1,sben:ben-secret-2"  # logins no other test module uses (one shared store)


@pytest.fixture(scope="module")
def server(coach):
    """The app with two logins, in this process, on a free loopback port; login back-off after 3 failures."""
    demo, port = launch_app(coach, ACCOUNTS, login_failures=3, session_hours=1.0)
    yield port, demo
    demo.close()


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 30) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def login(port: int, user: str, password: str, address_headers: dict | None = None) -> tuple[int, str | None]:
    body = urllib.parse.urlencode({"username": user, "password": password}).encode()
    status, headers, _ = request(port, "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                               **(address_headers or {})})
    cookie = headers.get("set-cookie")
    return status, cookie.split(";", 1)[0] if cookie else None


# ------------------------------------------------------------------------------------------------ 1: origin
def test_a_page_on_another_localhost_port_cannot_read_a_logged_in_users_data(server):
    port, _ = server
    status, cookie = login(port, "sana", "ana-secret-1")
    assert status == 200 and cookie
    evil = {"Origin": f"http://127.0.0.1:{free_port()}", "Cookie": cookie, "Content-Type": "application/json"}
    status, headers, body = request(port, "POST", "/gradio_api/call/history", b'{"data": []}', evil)
    assert status == 403 and b"refused" in body and b"event_id" not in body  # refused before any handler ran
    for foreign in ("null", "http://localhost:1", "https://127.0.0.1:%d" % port):
        assert request(port, "GET", "/gradio_api/info", None, {"Origin": foreign, "Cookie": cookie})[0] == 403
    # The app's own page, and clients that are not browsers (no Origin), are served.
    own = {"Origin": f"http://127.0.0.1:{port}", "Cookie": cookie, "Content-Type": "application/json"}
    status, _, body = request(port, "POST", "/gradio_api/call/history", b'{"data": []}', own)
    assert status == 200 and "event_id" in json.loads(body)
    assert request(port, "GET", "/gradio_api/info", None, {"Cookie": cookie})[0] == 200


def test_a_dns_rebinding_host_name_gets_nothing(server):
    port, _ = server
    status, _, body = request(port, "GET", "/", None, {"Host": f"attacker.example:{port}"})
    assert status == 403 and b"localhost only" in body
    assert request(port, "GET", "/", None, {"Host": f"localhost:{port}"})[0] == 200


def test_a_reverse_proxys_origin_can_be_allowed(coach):
    from bot.config import load_settings, parse_origins
    from bot.http_guard import RequestGuard

    assert parse_origins("https://coach.example.org, http://10.0.0.5:8080/") == (
        "https://coach.example.org", "http://10.0.0.5:8080")
    with pytest.raises(ValueError, match="entry 1 .* must look like https://host"):
        parse_origins("coach.example.org")
    guard = RequestGuard(None, dataclasses.replace(load_settings(), allowed_origins=("https://coach.example.org",)))
    scope = {"scheme": "http"}
    assert guard._refusal(scope, {"host": "coach.example.org", "origin": "https://coach.example.org"}) is None
    assert guard._refusal(scope, {"host": "127.0.0.1:7860", "origin": "https://coach.example.org"}) is None
    assert guard._refusal(scope, {"host": "127.0.0.1:7860", "origin": "https://other.example"})[0] == 403


# ------------------------------------------------------------------------------------------------ 3: size
def test_an_oversized_body_is_refused_before_it_is_read(server, coach):
    port, _ = server
    limit = coach.settings.max_request_bytes
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # 50 MB announced, nothing sent: the answer comes at once, from the headers alone.
        sock.sendall((f"POST /gradio_api/queue/join HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n").encode())
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413") and f"{limit:,} bytes" in reply
    # Without a Content-Length (chunked), it stops once the bytes received pass the limit.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    chunk = b"x" * 1_000_000
    sent = 0

    def body():
        nonlocal sent
        for _ in range(50):
            sent += len(chunk)
            yield chunk

    try:
        conn.request("POST", "/gradio_api/queue/join", body=body(), headers={"Content-Type": "application/json"},
                     encode_chunked=True)
        status = conn.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        status = 413  # the server answered and closed while we were still sending
    finally:
        conn.close()
    # The server stopped reading at the limit: the client could not push the whole 50 MB (socket buffers on
    # loopback hold a few MB, so less than all of it is the honest bound).
    assert status == 413 and sent < 30 * len(chunk)


def test_the_queue_is_bounded(server, coach):
    _, demo = server
    assert demo._queue.max_size == coach.settings.queue_max


# ------------------------------------------------------------------------------------------------ 5: logins
def test_wrong_passwords_back_off_per_user_and_per_address(server):
    port, _ = server
    for _ in range(3):
        assert login(port, "sben", "guess")[0] == 400
    status, _ = login(port, "sben", "ben-secret-2")  # the right password, during the back-off: refused too
    assert status == 429
    status, headers, body = request(port, "POST", "/login", b"username=sben&password=guess",
                                    {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 429 and int(headers["retry-after"]) >= 1 and b"try again in" in body
    time.sleep(2.2)  # 1 s after the 3rd failure, doubling after each further one
    assert login(port, "sben", "ben-secret-2")[0] == 200  # then the right one works and clears the count
    assert login(port, "sben", "guess")[0] == 400


def test_a_login_expires_after_its_lifetime():
    from bot.login_guard import ExpiringTokens

    tokens = ExpiringTokens(lifetime=0.3, existing={"old": "ana"})
    tokens["t1"] = "ben"
    assert tokens.get("t1") == "ben" and "old" in tokens and tokens["t1"] == "ben"
    time.sleep(0.4)
    assert tokens.get("t1") is None and "t1" not in tokens and "old" not in tokens
    with pytest.raises(KeyError):
        tokens["t1"]


def test_the_server_forgets_a_token_after_its_lifetime(server):
    port, demo = server
    status, cookie = login(port, "sana", "ana-secret-1")
    assert status == 200
    assert request(port, "GET", "/gradio_api/login_check", None, {"Cookie": cookie})[0] == 200
    tokens = demo.server_app.tokens
    token = cookie.split("=", 1)[1]
    tokens.issued[token] -= 3601  # an hour later (the fixture's BOT_SESSION_HOURS is 1)
    assert request(port, "GET", "/gradio_api/login_check", None, {"Cookie": cookie})[0] == 401


# ------------------------------------------------------------------------------------------------ 2: downloads
def test_a_download_is_served_only_to_its_owner(server):
    from gradio_client import Client

    port, _ = server
    url = f"http://127.0.0.1:{port}/"
    ana = Client(url, auth=("sana", "ana-secret-1"), verbose=False, download_files=False)
    ana.predict("ML Engineer", ["monitoring"], 3, "offline", api_name="/start")
    ana.predict("We alert on drift in the input features and page the model owner.", api_name="/answer")
    out = ana.predict(api_name="/finish")
    files = out[8]
    assert len(files) == 2
    link = urllib.parse.urlparse(files[0]["url"]).path
    ana_cookie, ben_cookie = login(port, "sana", "ana-secret-1")[1], login(port, "sben", "ben-secret-2")[1]
    status, _, body = request(port, "GET", link, None, {"Cookie": ana_cookie})
    assert status == 200 and (b"MLOps interview report" in body or b'"report"' in body)
    assert request(port, "GET", link, None, {"Cookie": ben_cookie})[0] == 404
    assert request(port, "GET", link, None, {})[0] in (401, 403, 404)


# ------------------------------------------------------------------------------------------------ 3: fairness
def test_one_login_cannot_hold_more_than_its_share_of_workers(coach):
    import gradio as gr

    from bot.work_limit import WorkLimit, login_key

    limit = WorkLimit(per_login=2)
    ana = login_key(type("R", (), {"username": "ana"})())
    with limit.slot(ana), limit.slot(ana):
        with pytest.raises(gr.Error, match="already have 2 actions running"):
            with limit.slot(ana):
                pass
        with limit.slot(login_key(type("R", (), {"username": "ben"})())):
            pass  # another login is not affected
    with limit.slot(ana):
        pass  # released


def test_a_login_with_its_share_running_is_refused_while_another_is_served(server):
    """Ana already has two actions running (her share): a third is refused at once with a message, Ben is served,
    and Ana is served again once hers end."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    port, demo = server
    ui = next(f.fn.__self__ for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "answer")
    url = f"http://127.0.0.1:{port}/"
    ana = Client(url, auth=("sana", "ana-secret-1"), verbose=False)
    ben = Client(url, auth=("sben", "ben-secret-2"), verbose=False)
    for client in (ana, ben):
        client.predict("ML Engineer", ["monitoring"], 5, "offline", api_name="/start")
    answer = "We log every prediction with the model version and alert on drift of the input features."
    with ui.work.slot("login:sana"), ui.work.slot("login:sana"):
        started = time.monotonic()
        with pytest.raises(AppError, match="already have 2 actions running"):
            ana.predict(answer, api_name="/answer")
        assert time.monotonic() - started < 10  # refused, not queued behind her running work
        assert ben.predict(answer, api_name="/answer")[STATUS]["answered"] == 1
    assert ana.predict(answer, api_name="/answer")[STATUS]["answered"] == 1


# ------------------------------------------------------------------------------------------------ 2: at rest
def test_files_at_rest_stay_in_bot_home_for_this_user_only(tmp_path):
    """`python app.py`: BOT_HOME 0700, the database 0600, Gradio's cache in BOT_HOME, nothing in the system temp
    dir, and a crashed process's download copies removed at the next start."""
    from gradio_client import Client

    home, systemp = tmp_path / "home", tmp_path / "systemp"
    systemp.mkdir()
    stale = home / "downloads" / "process-4999999"  # above any pid_max: a process that is gone
    stale.mkdir(parents=True)
    (stale / "mlops-report-old.md").write_text("left by a crashed process")
    port = free_port()
    env = {**os.environ, "BOT_HOME": str(home), "TMPDIR": str(systemp), "BOT_PORT": str(port),
           "BOT_HOST": "127.0.0.1"}
    env.pop("GRADIO_TEMP_DIR", None)
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if request(port, "GET", "/", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            time.sleep(0.3)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict("ML Engineer", ["monitoring"], 3, "offline", api_name="/start")
        client.predict("We alert on drift in the input features and page the model owner.", api_name="/answer")
        out = client.predict(api_name="/finish")
        assert len(out[8]) == 2  # the report and transcript were written and served
        assert not stale.exists()
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        assert stat.S_IMODE((home / "sessions.sqlite3").stat().st_mode) == 0o600
        cached = [p for p in (home / "gradio-cache").rglob("mlops-report-*.md")]
        assert cached, "the served report is in BOT_HOME's Gradio cache"
        loose = [p for p in home.rglob("*") if stat.S_IMODE(p.stat().st_mode) & 0o077]
        assert not loose, loose[:5]
        assert not list(systemp.rglob("*mlops*")) and not (systemp / "gradio").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_start_removes_only_the_download_copies_of_processes_that_are_gone(tmp_path):
    from bot.downloads import Downloads

    gone, live = tmp_path / "process-4999999", tmp_path / f"process-{os.getppid()}"  # another server's, running
    for folder in (gone, live):
        folder.mkdir(parents=True)
    downloads = Downloads(tmp_path)
    assert not gone.exists() and live.exists() and downloads.folder == tmp_path / f"process-{os.getpid()}"
    assert stat.S_IMODE(downloads.folder.stat().st_mode) == 0o700
