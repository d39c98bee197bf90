import json
import shutil
from collections import Counter

import pytest

from bot.knowledge import KnowledgeError, load_knowledge
from bot.schemas import CAPABILITIES, STAGES, TOPICS


def test_bank_covers_every_capability_stage_cell_with_five_questions(knowledge):
    qs = knowledge.questions.values()
    assert len(knowledge.questions) >= 150
    cells = Counter((q.capability, q.stage) for q in qs)
    short = {cell: n for cell, n in cells.items() if n < 5}
    assert len(cells) == 25 and not short, short
    topics = Counter(q.topic for q in qs if q.topic)
    assert set(TOPICS) <= set(topics), set(TOPICS) - set(topics)


def test_every_question_is_complete_and_cites_known_sources(knowledge):
    for q in knowledge.questions.values():
        assert 4 <= len(q.key_points) <= 6 and sorted(q.anchors) == [0, 1, 2, 3, 4]
        assert q.probes and q.reference_answer
        assert set(q.sources) <= set(knowledge.sources), q.id
        assert q.id.split("-")[1] == str(q.stage), q.id


def test_maturity_model_is_complete(knowledge):
    assert sorted(knowledge.stages) == list(STAGES)
    assert {(c, s) for c in CAPABILITIES for s in STAGES} == set(knowledge.matrix)
    frameworks = {c.framework for c in knowledge.crosswalk}
    assert len(frameworks) >= 5
    assert any(not claim.publicly_sourced for claim in knowledge.seed_claims)


@pytest.fixture
def knowledge_copy(tmp_path):
    from bot.config import load_settings

    target = tmp_path / "knowledge"
    shutil.copytree(load_settings().knowledge_dir, target)
    return target


def test_malformed_question_names_file_line_item_and_field(knowledge_copy):
    path = knowledge_copy / "questions" / "monitoring.yaml"
    text = path.read_text()
    first_id = text.split("id: ", 2)[1].split()[0]
    path.write_text(text.replace("stage: ", "stage: nine # ", 1))
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(knowledge_copy)
    message = str(err.value)
    assert "monitoring.yaml" in message and first_id in message and "'stage'" in message and "line " in message


def test_invalid_yaml_names_the_line(knowledge_copy):
    path = knowledge_copy / "stages.yaml"
    lines = path.read_text().splitlines()
    lines.insert(3, "  bad: [unclosed")
    path.write_text("\n".join(lines))
    with pytest.raises(KnowledgeError, match=r"stages.yaml, line \d+.*not valid YAML"):
        load_knowledge(knowledge_copy)


def test_unknown_source_and_duplicate_ids_are_refused(knowledge_copy):
    path = knowledge_copy / "questions" / "governance.yaml"
    path.write_text(path.read_text().replace("sources: [", "sources: [no-such-source, ", 1))
    with pytest.raises(KnowledgeError, match="unknown source id 'no-such-source'"):
        load_knowledge(knowledge_copy)


def test_questions_command_lists_the_bank_as_json(capsys, knowledge):
    from bot.cli import main

    assert main(["questions", "--stage", "2", "--capability", "governance", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["stage"] == 2 and r["capability"] == "governance" for r in rows)
    assert {"id", "stage", "capability", "question"} <= set(rows[0])
    assert main(["questions"]) == 0
    table = capsys.readouterr().out
    assert "CAPABILITY" in table and len(table.splitlines()) > len(knowledge.questions)
