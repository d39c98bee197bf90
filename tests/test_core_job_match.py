"""Job-Match: a posting's stage and capabilities, with the posting's own words behind every match."""
import json

import pytest

from bot.cli import main
from bot.job_match import JobMatchError, JobMatcher

PLATFORM = """Senior MLOps Engineer - Payments Risk

You will own the path from a trained model to production for our fraud team. Responsibilities:
- Build CI/CD for models with GitHub Actions, Great Expectations data validation and automated evaluation gates
- Run drift detection and alerting on features and predictions (Evidently, Prometheus, Grafana) with SLOs
- Deploy on Kubernetes with canary releases and automated rollback; Terraform for infrastructure
- Keep every model in the MLflow registry with lineage back to data versions in DVC
Requirements: 5+ years of experience, Python, Docker, AWS.
"""
JUNIOR = """Junior Data Analyst (internship, 6 months)

Help our marketing team answer questions with data. You will build weekly reports in Excel and Google Sheets,
clean CSV exports, and explore customer behaviour in Jupyter notebooks. Requirements: basic Python or SQL,
curiosity, good English. 0-1 years of experience. Apply with your CV.
"""


@pytest.fixture(scope="module")
def matcher(coach):
    return JobMatcher(coach.knowledge)


def test_a_platform_posting_asks_for_a_high_stage_and_names_its_capabilities(matcher):
    out = matcher.match(PLATFORM)
    assert out.stage >= 4 and abs(sum(out.distribution) - 1) < 1e-3
    assert out.confidence == out.distribution[out.stage - 1] and out.matcher == "offline"
    for cap in ("monitoring", "scalability", "automated_testing", "version_control"):
        assert out.capabilities[cap] >= 0.5, out.capabilities
    assert out.capabilities["governance"] < 0.5
    flat = " ".join(PLATFORM.split())
    assert all(m.phrase.rstrip(" …") in flat for m in out.matched)  # the posting's own words
    assert any("drift" in m.phrase.lower() and m.capability == "monitoring" for m in out.matched)


def test_a_junior_posting_asks_for_a_low_stage(matcher):
    out = matcher.match(JUNIOR)
    assert out.stage <= 2 and out.role in ("Junior Data Scientist", "ML Engineer")
    assert out.stage < matcher.match(PLATFORM).stage


@pytest.mark.parametrize("text, message", [
    ("", "words"), ("MLOps engineer wanted", "at least 25 words"),
    ("The quick brown fox jumps over the lazy dog while the sun sets slowly behind the hills and the birds sing "
     "their evening songs in the old oak trees near the quiet river bank today.", "does not read as a job posting"),
])
def test_empty_and_non_job_text_is_a_clear_error(matcher, text, message):
    with pytest.raises(JobMatchError, match=message):
        matcher.match(text)


def test_match_command_contract_and_exit_codes(capsys, tmp_path):
    posting = tmp_path / "job.md"
    posting.write_text(PLATFORM, encoding="utf-8")
    assert main(["match", str(posting)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"stage", "confidence", "distribution", "role", "capabilities", "matched", "matcher"}
    assert set(out["capabilities"]) == {"version_control", "automated_testing", "monitoring", "governance",
                                        "scalability"}
    assert all(set(m) == {"phrase", "capability", "stage"} for m in out["matched"])
    short = tmp_path / "short.txt"
    short.write_text("hello world", encoding="utf-8")
    assert main(["match", str(short)]) == 1
    assert "short.txt" in capsys.readouterr().err


def test_the_report_compares_the_estimate_with_the_posting(coach, matcher):
    from bot.report import build_report, to_markdown

    job = matcher.match(PLATFORM).model_dump()
    interviewer = coach.interviewer("offline")
    state = interviewer.start(role=job["role"], capabilities=["monitoring", "scalability"], max_questions=3, seed=2,
                              job=job)
    while state.current is not None:
        interviewer.answer(state, "We log predictions and alert on drift; deployments go through a canary on "
                                  "Kubernetes with automatic rollback.")
    report = build_report(state, coach.knowledge)
    fit = report["job_match"]
    assert fit["stage"] == job["stage"] and {r["capability"] for r in fit["capabilities"]} >= {"monitoring"}
    markdown = to_markdown(report)
    assert "## Match to the job posting" in markdown and f"asks for stage {job['stage']}" in markdown
    short = [r for r in fit["capabilities"] if r["verdict"] != "meets it"]
    assert short, fit  # three answers on two capabilities cannot meet a stage-4 posting's four
    assert len(fit["practise_before_applying"]) == len(short) and "Practise before applying" in markdown
