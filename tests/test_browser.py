"""A real browser (Debian chromium driven by Playwright) completes a short interview through the page."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.ui_views import EVIDENCE_COLOURS

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
ANSWERS = [
    "I would keep the code, the data snapshot and the trained model linked: Git for code, DVC for data, and an "
    "MLflow run per training job that records the commit, the data hash and the parameters. The model registry "
    "holds every version, so a rollback is promoting the previous one, and CI rebuilds the image from Git.",
    "We would add automated tests in CI: unit tests for feature code, data validation with Great Expectations "
    "on every new batch, and a gate that compares the candidate model against production on a fixed holdout "
    "set before it can be promoted. <b>bold?</b> See [our runbook][r] or https://evil.example/x and "
    "www.evil.example.\n\n[r]: https://evil.example/phish\n# Estimated stage: 5 (Optimized), 99% likely",
]  # two answers in a three-question interview: it cannot end by itself, so the test always finishes it by hand

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium "
                       "(`apt-get install -y chromium`, or `make browser`); the real-browser test is skipped"),
]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1360, "height": 960}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(
        ("http://127.0.0.1", "data:", "blob:")) else None)
    page.goto(app_url)
    page.wait_for_selector("#chat")
    yield page
    context.close()
    assert not outside, f"the page tried to reach the network: {outside[:5]}"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def user_messages(page):
    return page.locator("#chat [data-testid='user']")


def test_interview_in_the_browser(page, tmp_path):
    from playwright.sync_api import expect

    number = page.locator("#n-questions input[type='number']")
    number.fill("3")
    number.press("Enter")
    page.locator("#start").click()
    expect(page.locator("#progress")).to_contain_text("Question 1 (up to 3)")
    expect(page.locator("#stage")).to_contain_text("No answers yet")
    expect(page.locator("#chat [data-testid='bot']").last).to_contain_text("Question 1 (up to 3)")
    expect(page.locator("#answer textarea")).to_be_editable()
    shot(page, "01-interview-started")

    answered = 0
    stages = []
    for answer in ANSWERS:
        expect(page.locator("#answer textarea")).to_be_editable()  # the question has finished streaming
        page.locator("#answer textarea").fill(answer)
        page.locator("#submit").click()
        answered += 1
        expect(user_messages(page)).to_have_count(answered)
        expect(page.locator("#grade")).to_contain_text("Last grade:")
        expect(page.locator("#badge")).to_contain_text("graded by offline")
        # The estimate moves after each settled question (a partial answer first gets a follow-up).
        expect(page.locator("#stage")).not_to_contain_text("No answers yet")
        stages.append(text(page, "#stage"))
        if answered == 1:
            shot(page, "02-after-first-answer")
    assert answered == 2
    # The capability chart draws the capabilities answered so far (a plot built without a colour class drew no bar
    # at all after an update). The first answer may have been followed up, so at least one, with a height.
    drawn = page.locator("#cap-plot .mark-rect path:not([aria-label*='Answers: 0'])")
    expect(drawn.first).to_be_attached()
    for i in range(drawn.count()):
        bar = drawn.nth(i)
        assert "Stage: 0;" not in (bar.get_attribute("aria-label") or "")
        assert bar.get_attribute("fill") in EVIDENCE_COLOURS.values(), bar.get_attribute("fill")  # drawn, in its colour
    # A stage once one is likely, "not placed yet" with the leading stage before (never a bare "Stage 1 · 24 %"),
    # or, while a follow-up is open, that the estimate waits for it.
    estimates = [s for s in stages if "Answer the follow-up" not in s]
    assert estimates and all((s.startswith("Stage ") and "likely" in s) or
                             (s.startswith("Not placed yet") and "leads at" in s) for s in estimates), stages

    # Candidate text is shown as text, never as HTML.
    assert page.locator("#chat [data-testid='user'] b").count() == 0
    expect(user_messages(page).nth(1)).to_contain_text("<b>bold?</b>")
    # ... and never as Markdown structure: no link (reference-style, bare URL or www), no heading.
    crafted = user_messages(page).nth(1)
    expect(crafted).to_contain_text("[our runbook][r]")
    expect(crafted).to_contain_text("# Estimated stage: 5 (Optimized), 99% likely")
    assert crafted.locator("a").count() == 0 and crafted.locator("h1, h2, h3").count() == 0

    # The buttons are locked while a question streams (Playwright waits for Finish to be enabled again), so a
    # late streamed frame cannot overwrite the finished view.
    expect(page.locator("#finish")).to_be_enabled(timeout=15000)
    page.locator("#finish").click()
    expect(page.locator("#progress")).to_contain_text("Finished")
    report = page.locator("#report")
    expect(report).to_contain_text("Estimated stage")
    expect(report).to_contain_text("90-day plan")
    for finished_only in ("#hint", "#skip", "#finish", "#submit"):
        expect(page.locator(finished_only)).to_be_disabled()
    expect(page.locator("#downloads a[download]")).to_have_count(2)
    with page.expect_download() as info:
        page.locator("#downloads a[download$='.md']").click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    body = target.read_text(encoding="utf-8")
    assert target.suffix == ".md" and body.startswith("# MLOps interview report") and "Estimated stage" in body
    # The crafted heading and link definition are text in the downloaded Markdown too.
    assert "\n# Estimated stage: 5 (Optimized), 99%" not in body and "\\# Estimated stage: 5 (Optimized)" in body
    assert "\n[r]: https://" not in body and "\\[r\\]: https\\://evil.example/phish" in body
    assert report.locator("a[href*='evil.example']").count() == 0
    assert report.locator("h1, h2").filter(has_text="99% likely").count() == 0
    json_href = page.locator("#downloads a[download$='.json']").get_attribute("href")
    payload = page.request.get(json_href).json()
    assert payload["session"]["status"] == "finished" and len(payload["report"]["answers"]) >= answered
    expect(page.locator("#progress")).to_contain_text("Finished")
    report.scroll_into_view_if_needed()
    shot(page, "03-report")

    # A refresh restores the finished interview from the store.
    page.reload()
    expect(page.locator("#progress")).to_contain_text("Finished")
    expect(user_messages(page)).to_have_count(answered)

    page.get_by_role("tab", name="History").click()
    expect(page.locator("#history-table")).to_contain_text("finished")
    shot(page, "04-history")

    page.get_by_role("tab", name="Estimate").click()
    page.get_by_role("button", name="Load an example").click()
    expect(page.locator("#est-text textarea")).to_have_value(re.compile("Candidate:"))  # as a person sees it
    page.get_by_role("button", name="Estimate", exact=True).click()
    expect(page.locator("#est-result")).to_contain_text("likely")
    shot(page, "05-estimate")
    page.locator("#est-text textarea").fill('{"turns": [{"question": "q", "answer": 3}]}')
    page.get_by_role("button", name="Estimate", exact=True).click()
    expect(page.locator("#est-result")).to_contain_text("turns[0].answer")
    shot(page, "06-estimate-error")


def start_interview(page, questions: int = 3) -> None:
    from playwright.sync_api import expect

    number = page.locator("#n-questions input[type='number']")
    number.fill(str(questions))
    number.press("Enter")
    page.locator("#start").click()
    expect(page.locator("#answer textarea")).to_be_editable()


def test_enter_sends_and_shift_enter_adds_a_line(page):
    from playwright.sync_api import expect

    start_interview(page)
    box = page.locator("#answer textarea")
    expect(box).to_have_attribute("placeholder", "Your answer: Enter sends, Shift+Enter adds a line")
    box.click()
    box.type("We version data with DVC")
    box.press("Shift+Enter")
    box.type("and tag every model in the MLflow registry.")
    assert box.input_value() == "We version data with DVC\nand tag every model in the MLflow registry."
    assert user_messages(page).count() == 0  # Shift+Enter did not send
    box.press("Enter")
    expect(user_messages(page)).to_have_count(1)
    expect(user_messages(page).first).to_contain_text("MLflow registry")
    expect(page.locator("#grade")).to_contain_text("Last grade:")


def test_a_draft_survives_a_refresh_and_the_setup_is_remembered(page):
    from playwright.sync_api import expect

    page.locator("#role input").click()
    page.get_by_role("option", name="ML Engineer").click()
    start_interview(page, questions=4)
    # The choices are stored by a step chained after the start (a person takes longer than this to reload).
    page.wait_for_function("() => localStorage.getItem('mlops-coach-setup') !== null")
    page.locator("#answer textarea").fill("Half-written: we retrain weekly from")
    page.reload()
    expect(page.locator("#answer textarea")).to_have_value("Half-written: we retrain weekly from")
    page.locator("#new").click()
    expect(page.locator("#answer textarea")).to_be_disabled()
    page.reload()  # a new page: the last interview's choices, not the defaults
    expect(page.locator("#role input")).to_have_value("ML Engineer")
    expect(page.locator("#n-questions input[type='number']")).to_have_value("4")


def test_dark_mode_toggle_is_remembered(page):
    from playwright.sync_api import expect

    assert "dark" not in (page.locator("body").get_attribute("class") or "")
    page.locator("#theme-toggle").click()
    expect(page.locator("body")).to_have_class(__import__("re").compile(r"\bdark\b"))
    page.reload()
    page.wait_for_selector("#chat")
    expect(page.locator("body")).to_have_class(__import__("re").compile(r"\bdark\b"))
    page.locator("#theme-toggle").click()
    expect(page.locator("body")).not_to_have_class(__import__("re").compile(r"\bdark\b"))


def test_phone_width_stacks_the_page_with_the_grade_under_the_answer(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(app_url)
        page.wait_for_selector("#chat")
        start_interview(page)
        box = page.locator("#answer textarea").bounding_box()
        submit = page.locator("#submit").bounding_box()
        assert box["width"] >= 300, box  # full width, not squeezed beside the button
        assert submit["y"] >= box["y"] + box["height"] - 1, (box, submit)  # Submit sits under the box
        page.locator("#answer textarea").fill(ANSWERS[0])
        page.locator("#submit").click()
        expect(page.locator("#grade")).to_contain_text("Last grade:")
        grade = page.locator("#grade").bounding_box()
        plot = page.locator("#stage-plot").bounding_box()
        actions = page.locator("#finish").bounding_box()
        assert actions["y"] < grade["y"] < plot["y"], (actions, grade, plot)  # the grade right after the answer
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 392, f"the page scrolls sideways at phone width ({width} px)"
        shot(page, "07-phone-graded")
    finally:
        context.close()


def test_job_match_then_practise_my_gaps(page):
    from playwright.sync_api import expect

    from tests.test_core_job_match import PLATFORM

    page.get_by_text("Job-Match: tailor the interview to a job posting").click()
    page.locator("#job-text textarea").fill(PLATFORM)
    page.locator("#job-read").click()
    expect(page.locator("#job-result")).to_contain_text("The posting asks for stage")
    expect(page.locator("#job-result")).to_contain_text("drift detection")
    role = page.locator("#role input").input_value()
    assert role in ("AI Platform Lead", "Head of AI Ops"), role
    shot(page, "08-job-match")
    start_interview(page, questions=3)
    page.locator("#answer textarea").fill("We don't have that yet, honestly I'm not sure how we would do it.")
    page.locator("#submit").click()
    expect(user_messages(page)).to_have_count(1)
    expect(page.locator("#finish")).to_be_enabled()
    page.locator("#finish").click()
    expect(page.locator("#report")).to_contain_text("Match to the job posting")
    page.locator("#practise-gaps").click()
    expect(page.locator("#progress")).to_contain_text("Question 1")
    expect(page.locator("#badge")).to_contain_text("Practising your gaps")
    page.get_by_role("tab", name="History").click()
    expect(page.locator("#open-gaps")).to_contain_text("Open key points")
    shot(page, "09-open-gaps")
