"""The coach's Cohort view (BOT_COACHES): what it shows, and that a candidate reaches none of it, through the
data model, the API, a download link and the real browser."""
from __future__ import annotations

import csv
import http.client
import io
import urllib.parse
from pathlib import Path

import pytest

from conftest import launch_app

ACCOUNTS = "coachy:coach-pw-1,cana:cand-pw-1,cben:cand-pw-2"
CHROMIUM = Path("/usr/bin/chromium")


def _state(owner, created, stage_answers):
    """A session whose belief has seen `stage_answers` [(capability, question stage, score)]."""
    from bot.interviewer import SessionState
    from bot.maturity import Belief

    state = SessionState(capabilities=["monitoring"], max_questions=5, model="offline", seed=1, owner=owner)
    state.created_at = created
    belief = Belief()
    for cap, stage, score in stage_answers:
        belief.update(cap, stage, score)
    state.belief = belief.__dict__
    return state


def test_the_cohort_counts_each_candidates_latest_interview():
    from bot.cohort import CSV_COLUMNS, build_cohort

    states = [_state("ana", "2026-11-01T10:00:00+00:00", [("monitoring", 1, 1), ("governance", 1, 0)]),
              _state("ana", "2026-11-20T10:00:00+00:00", [("monitoring", 4, 4), ("monitoring", 5, 4),
                                                           ("governance", 2, 1)]),
              _state("=cmd|calc", "2026-11-05T10:00:00+00:00", [("monitoring", 2, 2), ("governance", 1, 1)]),
              _state("ben", "2026-11-06T10:00:00+00:00", []),  # nothing graded: not assessed
              _state(None, "2026-11-07T10:00:00+00:00", [("monitoring", 3, 3)])]  # no login: nobody's
    cohort = build_cohort(states)
    assert cohort.candidates == ["=cmd|calc", "ana"] and len(cohort.rows) == 3
    latest = cohort.latest()
    assert latest["ana"].created_at.startswith("2026-11-20")  # the newest, not the first
    assert sum(cohort.distribution().values()) == 2 and cohort.distribution()[latest["ana"].stage] >= 1
    weakest = cohort.weakest()
    assert [c for c, _, _ in weakest][0] == "governance"  # both candidates are weaker there than in monitoring
    assert weakest[0][2] == 2
    rows = list(csv.reader(io.StringIO(cohort.to_csv())))
    assert rows[0] == CSV_COLUMNS and len(rows) == 4
    assert rows[2][0] == "'=cmd|calc"  # a login never runs as a spreadsheet formula


@pytest.fixture(scope="module")
def cohort_server(coach):
    demo, port = launch_app(coach, ACCOUNTS, coaches=("coachy",))
    url = f"http://127.0.0.1:{port}/"
    from gradio_client import Client

    for login, password in (("cana", "cand-pw-1"), ("cben", "cand-pw-2")):
        c = Client(url, auth=(login, password), verbose=False)
        c.predict("ML Engineer", ["monitoring"], 3, "offline", api_name="/start")
        c.predict(f"{login}: we log every prediction with the model version and alert on drift each night.",
                  api_name="/answer")
        c.predict(api_name="/finish")  # a pending follow-up still counts its graded answer
    yield url, port
    demo.close()


def test_a_coach_sees_the_cohort_and_a_candidate_is_refused(cohort_server):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, port = cohort_server
    coach_client = Client(url, auth=("coachy", "coach-pw-1"), verbose=False, download_files=False)
    summary, distribution, weakest, progress, table, csv_file = coach_client.predict(api_name="/cohort")
    names = [row[0] for row in table["data"]]  # (other test modules' logins share this store)
    assert {"cana", "cben"} <= set(names) and len(names) == len(set(names))
    assert f"Cohort: {len(names)} candidates" in summary
    assert sum(row[1] for row in distribution["data"]) == len(names)
    assert weakest["data"] and weakest["data"][0][0] in ("Monitoring",)
    for login, password in (("cana", "cand-pw-1"), ("cben", "cand-pw-2")):
        with pytest.raises(AppError, match="for coaches"):
            Client(url, auth=(login, password), verbose=False).predict(api_name="/cohort")
    # The CSV link works for the coach only.
    path = urllib.parse.urlparse(csv_file["url"]).path
    assert _get(port, path, _cookie(port, "coachy", "coach-pw-1"))[0] == 200
    status, body = _get(port, path, _cookie(port, "cana", "cand-pw-1"))
    assert status == 404 and b"cben" not in body


def _cookie(port: int, user: str, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/login", urllib.parse.urlencode({"username": user, "password": password}),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    response.read()
    return response.getheader("set-cookie").split(";", 1)[0]


def _get(port: int, path: str, cookie: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    return response.status, response.read()


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")
def test_the_cohort_tab_in_the_browser_is_there_for_a_coach_only(cohort_server):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from playwright.sync_api import expect

    url, _ = cohort_server
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            for login, password, coach in (("coachy", "coach-pw-1", True), ("cana", "cand-pw-1", False)):
                page = browser.new_context(viewport={"width": 1360, "height": 960}).new_page()
                page.set_default_timeout(20_000)
                page.goto(url)
                page.locator("input[type='text'], input[name='username']").first.fill(login)
                page.locator("input[type='password']").first.fill(password)
                page.keyboard.press("Enter")
                page.wait_for_selector("#chat")
                tab = page.get_by_role("tab", name="Cohort")
                if coach:
                    expect(tab).to_be_visible()
                    tab.click()
                    expect(page.locator("#cohort-summary")).to_contain_text("candidates")
                    expect(page.locator("#cohort-table")).to_contain_text("cben")
                    page.wait_for_timeout(1500)  # the charts draw after the data arrives
                    page.screenshot(path=str(Path(__file__).parent / "artifacts" / "cohort-coach.png"),
                                    full_page=True)
                else:
                    page.wait_for_timeout(1500)  # the page has loaded and asked whether to show the tab
                    expect(tab).to_have_count(0)
                page.context.close()
        finally:
            browser.close()
