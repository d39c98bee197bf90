"""Stage from any conversation: described practices matched against the capability x stage matrix.

What a candidate claims about themselves ("we are stage 5") is not evidence; what they describe doing is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bot.embeddings import get_embedder
from bot.guards import guard_config, is_keyword_list
from bot.knowledge import Knowledge
from bot.maturity import summarise
from bot.reading import content_stems, is_general, read_answer
from bot.records import Record, field_error, read_json_documents
from bot.schemas import CAPABILITIES, STAGES, Estimate, Evidence

EVIDENCE_THRESHOLD = 0.40   # (0.42 before clauses were read for negation; chosen on the dev split) cosine similarity of a sentence to a matrix indicator to count as evidence
STAGE_TEMPERATURE = 0.03    # similarity gap between stages that makes one stage e times likelier
EVIDENCE_TEMPER = 0.6       # evidence sentences are not independent: each counts for less than a full observation
MIN_EVIDENCE = 2
EVIDENCE_KINDS = ("practice", "statement", "negated")
ABSENCE_PENALTY = 3.0       # log-odds against "this cell or above" from one clause saying the practice is absent
INDEPENDENT_TURNS = 0.6     # prior weight, in turns: 1 turn -> at most ~62 % on one stage, 6 turns -> ~91 %
PLAIN_LINE = re.compile(r"^\s*(Q|A|Question|Answer|Interviewer|Candidate|Me|You)\s*[:>-]\s*(.*)$", re.IGNORECASE)
QUESTION_ROLES = {"q", "question", "interviewer", "you"}


class TranscriptError(ValueError):
    pass


@dataclass(frozen=True)
class Transcript:
    id: str | None
    turns: list[dict]


def parse_plain(text: str) -> list[dict]:
    turns: list[dict] = []
    role = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = PLAIN_LINE.match(line)
        if match:
            role = "question" if match.group(1).lower() in QUESTION_ROLES else "answer"
            if role == "question" or not turns or turns[-1]["answer"]:
                turns.append({"question": "", "answer": ""})
            turns[-1][role] = match.group(2).strip()
        elif line.strip() and role:
            turns[-1][role] = (turns[-1][role] + " " + line.strip()).strip()
        elif line.strip():
            raise TranscriptError(f"line {number}: plain-text transcripts need 'Q:'/'A:' or "
                                  "'Interviewer:'/'Candidate:' at the start of each turn")
    if not any(t["answer"] for t in turns):
        raise TranscriptError("line 1: no answers found; mark turns with 'Q:'/'A:' or 'Interviewer:'/'Candidate:'")
    return turns


ROLES = ("system", "assistant", "user", "tool", "developer")


def _message_text(content, where: str, line: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...] as chat APIs export it
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    if content is None:
        return ""
    raise TranscriptError(field_error(line, f"{where}.content", "must be a string or a list of text parts"))


def turns_from_messages(messages: list, line: int, candidate_role: str = "user") -> list[dict]:
    """OpenAI chat messages as question/answer turns: the candidate is `candidate_role` (the user side by
    default), the interviewer every other side; consecutive messages of one side are joined."""
    if candidate_role not in ROLES:
        raise TranscriptError(field_error(line, "candidate_role", f"must be one of {', '.join(ROLES)}"))
    turns: list[dict] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise TranscriptError(field_error(line, where, 'must be an object {"role": ..., "content": ...}'))
        role = message.get("role")
        if role not in ROLES:
            raise TranscriptError(field_error(line, f"{where}.role", f"must be one of {', '.join(ROLES)}"))
        text = _message_text(message.get("content"), where, line).strip()
        if not text:
            continue
        side = "answer" if role == candidate_role else "question"
        if side == "question" and (not turns or turns[-1]["answer"]):
            turns.append({"question": text, "answer": ""})
        elif side == "answer" and not turns:
            turns.append({"question": "", "answer": text})
        else:
            turns[-1][side] = (turns[-1][side] + "\n" + text).strip()
    if not any(t["answer"] for t in turns):
        raise TranscriptError(field_error(line, "messages", f"has no message from the candidate's side "
                                          f"(role {candidate_role!r}); set \"candidate_role\" if the candidate "
                                          "is the other side"))
    return [t for t in turns if t["answer"]]


def _app_transcript(data: dict, line: int) -> Transcript:
    """The app's own download: {"report": ..., "session": {"id", "turns": [{"asked", "answer", ...}]}}."""
    session = data["session"]
    turns = [{"question": t.get("asked") or "", "answer": t["answer"]} for t in session.get("turns", [])
             if isinstance(t, dict) and isinstance(t.get("answer"), str) and t["answer"].strip()]
    if not turns:
        raise TranscriptError(field_error(line, "session.turns", "holds no answered question"))
    return Transcript(session.get("id"), turns)


def _turns_of(record: Record) -> Transcript:
    data = record.data
    if "turns" not in data and isinstance(data.get("text"), str):
        try:
            return Transcript(data.get("id"), parse_plain(data["text"]))
        except TranscriptError as exc:
            raise TranscriptError(f"line {record.line}: 'text' {exc}") from None
    if "turns" not in data and isinstance(data.get("messages"), list):
        return Transcript(data.get("id"), turns_from_messages(data["messages"], record.line,
                                                              data.get("candidate_role", "user")))
    if "turns" not in data and isinstance(data.get("session"), dict) and isinstance(data["session"].get("turns"),
                                                                                   list):
        return _app_transcript(data, record.line)
    turns = data.get("turns")
    if not isinstance(turns, list) or not turns:
        raise TranscriptError(field_error(record.line, "turns", "must be a non-empty list of "
                                          "{\"question\": ..., \"answer\": ...} objects (or give \"messages\" "
                                          "in the OpenAI chat format)"))
    out = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or not isinstance(turn.get("answer"), str):
            raise TranscriptError(field_error(record.line, f"turns[{i}].answer", "must be a string"))
        question = turn.get("question", "")
        if not isinstance(question, str):
            raise TranscriptError(field_error(record.line, f"turns[{i}].question", "must be a string"))
        out.append({"question": question, "answer": turn["answer"]})
    return Transcript(data.get("id"), out)


def _is_message(item) -> bool:
    return isinstance(item, dict) and "role" in item and "content" in item and "messages" not in item


def parse_transcripts(text: str) -> list[Transcript | Record]:
    """Transcripts from JSON, JSON Lines or plain text; an invalid record comes back as a Record with its error."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        return [Record(1, None, "line 1: the input is empty; give JSON, JSON Lines or a Q:/A: transcript")]
    if not text.strip().startswith(("{", "[")):
        try:
            return [Transcript(None, parse_plain(text))]
        except TranscriptError as exc:
            return [Record(1, None, str(exc))]
    records = read_json_documents(text)
    # A bare list of chat messages (one JSON array, or one message per line) is one conversation.
    if records and all(r.error is None and _is_message(r.data) for r in records):
        try:
            return [Transcript(None, turns_from_messages([r.data for r in records], records[0].line))]
        except TranscriptError as exc:
            return [Record(records[0].line, None, str(exc))]
    out: list[Transcript | Record] = []
    for record in records:
        if record.error:
            out.append(record)
            continue
        try:
            out.append(_turns_of(record))
        except TranscriptError as exc:
            out.append(Record(record.line, record.data, str(exc)))
    return out


class EvidenceEstimator:
    def __init__(self, knowledge: Knowledge) -> None:
        self.cells = [(cell.capability, cell.stage) for cell in knowledge.matrix.values()
                      for _ in cell.indicators]
        texts = [ind for cell in knowledge.matrix.values() for ind in cell.indicators]
        self.cell_index = {key: np.array([i for i, c in enumerate(self.cells) if c == key])
                           for key in set(self.cells)}
        self.vectors = get_embedder().embed(texts)
        self.claim_vectors = get_embedder().embed(list(guard_config().claim_prototypes) or ["[none]"])

    def evidence(self, turns: list[dict]) -> list[tuple[Evidence, np.ndarray]]:
        """Each clause that describes practice close enough to the matrix, with a log-likelihood over stages.

        The answer is read once (bot/reading.py), as the grader reads it: claims, directives, hedges, proposals
        and not-knowing are not evidence. A negated clause ("there is no retraining trigger") close to a cell
        above stage 2 is evidence that the capability is below that cell, never that it is there."""
        found = []
        for index, turn in enumerate(turns):
            reading = read_answer(turn["answer"])
            segments = [seg for seg in reading.segments if seg.kind in EVIDENCE_KINDS
                        and not is_keyword_list(seg.text) and len(content_stems(seg.text)) >= 2
                        and not (seg.kind == "statement" and is_general(seg.text))
                        and not seg.text.rstrip().endswith("?")]  # a question asked back describes nothing
            if not segments:
                continue
            vectors = get_embedder().embed([seg.text for seg in segments])
            sims = vectors @ self.vectors.T
            claimish = (vectors @ self.claim_vectors.T).max(axis=1)
            for seg, row, claim in zip(segments, sims, claimish):
                best = int(row.argmax())
                if row[best] < EVIDENCE_THRESHOLD or claim >= row[best]:
                    continue
                capability, stage = self.cells[best]
                weight = EVIDENCE_TEMPER * (0.5 + (row[best] - EVIDENCE_THRESHOLD) / (1 - EVIDENCE_THRESHOLD))
                if seg.kind == "negated" and stage > 2:
                    log_lik = np.where(np.array(STAGES) < stage, 0.0, -weight * ABSENCE_PENALTY)
                else:
                    per_stage = np.array([row[self.cell_index[(capability, s)]].max() for s in STAGES])
                    log_lik = weight * (per_stage - per_stage.max()) / STAGE_TEMPERATURE
                found.append((Evidence(turn=index, capability=capability, stage=stage, quote=seg.text[:240],
                                       kind="absence" if seg.kind == "negated" and stage > 2 else "practice"),
                              log_lik))
        return found

    def answer_likelihood(self, answer: str) -> tuple[list[float] | None, dict[str, list[float]]]:
        """The log-likelihood over stages of the practice one answer describes (None when it describes none),
        which the interview weighs beside the answer's score, and the same per capability its clauses describe,
        so practice told on one capability's question still counts for its own. One reading serves both."""
        found = self.evidence([{"question": "", "answer": answer}])
        by: dict[str, list[np.ndarray]] = {}
        for evidence, lik in found:
            by.setdefault(evidence.capability, []).append(lik)
        overall = turn_log_likelihood([lik for _, lik in found]).tolist() if found else None
        return overall, {c: turn_log_likelihood(liks).tolist() for c, liks in by.items()}

    def estimate(self, transcript: Transcript) -> Estimate:
        found = self.evidence(transcript.turns)
        if len(found) < MIN_EVIDENCE:
            return self.insufficient(transcript, [e for e, _ in found])
        return self.summarised(transcript, found)

    @staticmethod
    def insufficient(transcript: Transcript, evidence: list[Evidence], estimator: str = "offline") -> Estimate:
        return Estimate(id=transcript.id, stage=None, confidence=0.0, distribution=[0.2] * 5,
                        capabilities={c: None for c in CAPABILITIES}, evidence=evidence, estimator=estimator,
                        note="insufficient evidence: describe concrete practices (what you did, with which "
                             "tools, how it worked), not a level")

    @staticmethod
    def summarised(transcript: Transcript, found: list[tuple[Evidence, np.ndarray]],
                   estimator: str = "offline") -> Estimate:
        """The Bayesian aggregation of per-clause evidence, whichever reader found it."""
        overall = combine([(e.turn, lik) for e, lik in found])
        summary = summarise(overall)
        capabilities = {}
        for c in CAPABILITIES:
            mine = [(e.turn, lik) for e, lik in found if e.capability == c]
            capabilities[c] = int(np.argmax(combine(mine))) + 1 if mine else None
        return Estimate(id=transcript.id, stage=summary["stage"], confidence=summary["confidence"],
                        distribution=summary["distribution"], capabilities=capabilities,
                        evidence=[e for e, _ in found], estimator=estimator)


def combine(evidence: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """The stage distribution from per-clause log-likelihoods. Clauses of one answer are not independent: each
    turn counts once (the mean of its clauses, a little more for several), and the result is mixed with a broad
    prior that fades only as independent turns accumulate, so a handful of sentences never reads as certainty."""
    by_turn: dict[int, list[np.ndarray]] = {}
    for turn, lik in evidence:
        by_turn.setdefault(turn, []).append(lik)
    total = sum(turn_log_likelihood(liks) for liks in by_turn.values())
    dist = np.exp(total - np.max(total))
    dist /= dist.sum()
    keep = len(by_turn) / (len(by_turn) + INDEPENDENT_TURNS)
    return keep * dist + (1 - keep) * np.full(5, 0.2)


def turn_log_likelihood(liks: list[np.ndarray]) -> np.ndarray:
    """One turn's clauses as one observation: their mean, a little more for several."""
    return np.mean(liks, axis=0) * (1 + 0.25 * np.log(len(liks)))


LLM_EVIDENCE_WEIGHT = 0.5   # one checked item's pull toward its stage (log-likelihood per stage of distance squared)
LLM_EVIDENCE_TOKENS = 500   # six bounded items


class LLMEvidenceEstimator:
    """Conversations estimated with a language model reading each turn for evidence, checked in code: the quote must
    be the candidate's own words, and the one reading (bot/reading.py) must agree it is described practice (or an
    absence); proposals and claims are never evidence. The same Bayesian aggregation as the offline estimator; any
    model failure estimates that transcript offline instead, and `estimator` says which ran."""

    def __init__(self, model, knowledge: Knowledge, offline: EvidenceEstimator) -> None:
        self.model, self.knowledge, self.offline = model, knowledge, offline

    def estimate(self, transcript: Transcript) -> Estimate:
        from bot.models import LLMError, fallback_notice

        self.model.begin_turn()
        try:
            found = self._evidence(transcript.turns)
        except LLMError as exc:
            estimate = self.offline.estimate(transcript)
            note = fallback_notice(self.model, exc, "this conversation was estimated offline")
            return estimate.model_copy(update={"note": " ".join(filter(None, [estimate.note, note]))})
        if len(found) < MIN_EVIDENCE:
            return self.offline.insufficient(transcript, [e for e, _ in found], self.model.name)
        return self.offline.summarised(transcript, found, self.model.name)

    def _evidence(self, turns: list[dict]) -> list[tuple[Evidence, np.ndarray]]:
        from bot.grader import quoted
        from bot.models import to_messages
        from bot.prompts import load_prompt, quote_answer
        from bot.schemas import LLMEvidence, STAGE_NAMES

        prompt = load_prompt("evidence")
        stages = ", ".join(f"{s} {STAGE_NAMES[s]}" for s in STAGES)
        found = []
        for index, turn in enumerate(turns):
            if not turn["answer"].strip():
                continue
            system, user = prompt.render(question=turn.get("question") or "(not given)", stages=stages,
                                         answer=quote_answer(turn["answer"]))
            reply = self.model.structured(to_messages(system, user), LLMEvidence, step="evidence",
                                          max_tokens=LLM_EVIDENCE_TOKENS)
            reading = read_answer(turn["answer"])
            for item in reply.items:
                if item.kind not in ("practice", "negation") or not quoted(item.quote, turn["answer"]):
                    continue
                said = {seg.kind for seg in reading.segments if quoted(seg.text, item.quote) or
                        quoted(item.quote, seg.text)}
                if item.kind == "practice" and not said & {"practice", "statement"}:
                    continue  # the model calls it practice; the reading says hedge, proposal or claim
                if item.kind == "negation" and "negated" not in said:
                    continue
                if item.kind == "negation":
                    if item.stage <= 2:
                        continue
                    log_lik = np.where(np.array(STAGES) < item.stage, 0.0, -EVIDENCE_TEMPER * ABSENCE_PENALTY)
                else:
                    log_lik = -LLM_EVIDENCE_WEIGHT * (np.array(STAGES) - item.stage) ** 2.0
                found.append((Evidence(turn=index, capability=item.capability, stage=item.stage,
                                       quote=item.quote[:240], kind="absence" if item.kind == "negation"
                                       else "practice"), log_lik))
        return found
