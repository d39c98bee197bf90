"""Practise your gaps: missed key points stay open until a later answer covers them, spaced over sessions."""
from bot.gaps import due_questions, open_gaps


def _interview(interviewer, pool, answer_for, seed=3):
    state = interviewer.start(capabilities=None, max_questions=len(pool), pool=pool, seed=seed)
    while state.current is not None:
        interviewer.answer(state, answer_for(state.current.question_id))
    return state


def test_missed_points_open_and_close_when_covered_later(coach, knowledge):
    interviewer = coach.interviewer("offline")
    question = knowledge.questions[sorted(knowledge.questions)[0]]
    weak = _interview(interviewer, [question.id], lambda q: "I am not sure, we just keep things simple.")
    weak.created_at = "2026-01-01T09:00:00+00:00"  # an earlier day (sessions of one second would tie)
    first = open_gaps([weak], knowledge)
    assert first and all(g.question_id == question.id for g in first)
    assert len(first) == len(question.key_points)  # nothing was covered
    strong = _interview(interviewer, [question.id], lambda q: knowledge.questions[q].reference_answer)
    covered = {i for t in strong.turns if t.grade for i in t.grade.covered}
    assert covered
    after = open_gaps([strong, weak], knowledge)  # order of the list does not matter: read by time
    assert len(after) == len(first) - len(covered)
    assert {g.key_point for g in after}.isdisjoint({question.key_points[i] for i in covered})


def test_a_point_missed_in_the_latest_interview_rests_one_interview(coach, knowledge):
    interviewer = coach.interviewer("offline")
    ids = sorted(knowledge.questions)[:2]
    older = _interview(interviewer, [ids[0]], lambda q: "No idea.")
    older.created_at = "2026-01-01T09:00:00+00:00"
    latest = _interview(interviewer, [ids[1]], lambda q: "No idea.")
    gaps = open_gaps([older, latest], knowledge)
    assert due_questions(gaps, latest.id) == [ids[0]]  # the older miss is due; the fresh one rests
    assert set(due_questions([g for g in gaps if g.question_id == ids[1]], latest.id)) == {ids[1]}
