"""`estimate` with a language model: evidence per turn, checked in code, aggregated like the offline estimator."""
from bot.estimate import EvidenceEstimator, LLMEvidenceEstimator, Transcript
from bot.models import LLMError

TURNS = [
    {"question": "How do you version models?",
     "answer": "Every model in our registry links to the Git commit and the DVC data version it was trained on. "
               "I would add signed model cards later. We are basically fully mature."},
    {"question": "How do you monitor?",
     "answer": "We alert on feature drift with PSI per feature and page the owning team when it crosses 0.2. "
               "We don't have automatic retraining yet."},
]


def _estimator(coach, fake_model):
    return LLMEvidenceEstimator(fake_model, coach.knowledge, EvidenceEstimator(coach.knowledge))


def test_only_checked_practice_in_the_candidates_words_is_evidence(coach, fake_model):
    fake_model.enqueue(
        {"items": [
            {"capability": "version_control", "stage": 4, "kind": "practice",
             "quote": "Every model in our registry links to the Git commit and the DVC data version"},
            {"capability": "governance", "stage": 5, "kind": "practice", "quote": "I would add signed model cards"},
            {"capability": "governance", "stage": 5, "kind": "claim", "quote": "We are basically fully mature"},
            {"capability": "scalability", "stage": 5, "kind": "practice", "quote": "we run a global GPU fleet"}]},
        {"items": [
            {"capability": "monitoring", "stage": 4, "kind": "practice",
             "quote": "We alert on feature drift with PSI per feature"},
            {"capability": "monitoring", "stage": 5, "kind": "negation", "quote": "We don't have automatic retraining"}]})
    estimate = _estimator(coach, fake_model).estimate(Transcript("t1", TURNS))
    assert estimate.estimator == "fake" and estimate.stage is not None
    kinds = {(e.capability, e.kind) for e in estimate.evidence}
    # The proposal the model called practice, the claim and the invented quote are dropped; the absence is kept.
    assert kinds == {("version_control", "practice"), ("monitoring", "practice"), ("monitoring", "absence")}
    assert estimate.capabilities["governance"] is None and estimate.capabilities["scalability"] is None
    assert estimate.stage <= 4 and abs(sum(estimate.distribution) - 1) < 1e-3
    prompt = fake_model.chat.received[0][1].content
    assert "<<<ANSWER" in prompt and TURNS[0]["answer"][:30] in prompt


def test_a_model_failure_estimates_the_transcript_offline_and_says_so(coach, fake_model):
    fake_model.enqueue(LLMError("boom", kind="timeout"))
    estimate = _estimator(coach, fake_model).estimate(Transcript("t2", TURNS))
    offline = EvidenceEstimator(coach.knowledge).estimate(Transcript("t2", TURNS))
    assert estimate.estimator == "offline" and estimate.stage == offline.stage
    assert "estimated offline" in estimate.note


def test_the_estimate_command_uses_the_named_model(coach, fake_model, capsys, monkeypatch):
    import io
    import json

    from bot.cli import main

    fake_model.enqueue({"items": []}, {"items": []})
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"id": "t3", "turns": TURNS})))
    assert main(["estimate", "-", "--model", "fake"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["estimator"] == "fake" and out["stage"] is None  # the model found nothing: not enough evidence
