import json
import re

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from ragapp.eval import contains_answer, format_table, load_questions, paragraph_spans, run_eval
from ragapp.ingestion import UsageError
from ragapp.pipeline import Pipeline

DOC = "# Widgets\n\nWidgets are made in Leeds since 1999.\n\nGadgets are blue and cost 12 euros.\n"


def test_paragraphs_follow_the_title_line():
    spans = paragraph_spans(DOC)
    assert [DOC[a:b] for a, b in spans] == ["Widgets are made in Leeds since 1999.", "Gadgets are blue and cost 12 euros."]


def test_containment_folds_case_and_punctuation():
    assert contains_answer("They are made in LEEDS.", ("Leeds",))
    assert not contains_answer("They are made in Leedsbury.", ("Leeds",))


def test_question_file_errors_name_the_line(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "q", "doc": "a.md"}\n{"doc": "a.md"}\n')
    with pytest.raises(UsageError, match="line 2"):
        load_questions(path)


def _setup(tmp_path, reply):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "widgets.md").write_text(DOC)
    (docs / "other.md").write_text("# Other\n\nNothing about that here, only the weather in Oslo.\n")
    qa = tmp_path / "qa.jsonl"
    rows = [
        {"question": "Where are widgets made?", "doc": "widgets.md", "paragraph_index": 0, "answers": ["Leeds"]},
        {"question": "What colour are gadgets?", "doc": "widgets.md", "paragraph_index": 1, "answers": ["blue"]},
        {"question": "Who makes gizmos?", "doc": "widgets.md", "answerable": False, "paragraph_index": 0},
    ]
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from ragapp.settings import Settings

    # The bag-of-words HashEmbedder scores lower than MiniLM: a gate that suits it.
    settings = Settings(store_dir=tmp_path / "store", chunk_size=12, chunk_overlap=0, min_relevance=0.7)
    return qa, docs, Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator(reply))


def test_retrieval_only_reports_retrieval_keys(tmp_path):
    qa, docs, pipeline = _setup(tmp_path, "unused [1].")
    results = run_eval(qa, docs, pipeline.settings, retrieval_only=True, pipeline=pipeline)
    assert set(results) == {"questions", "store_precision", "precision", "recall_at_1", "recall_at_5", "mrr_at_10", "mean_passage_tokens"}
    assert results["questions"] == 3 and results["recall_at_5"] == 1.0
    assert pipeline.generator.calls == []


def _answers_from_the_passages(messages):
    """The model: cites the passage that holds the fact asked for; declines what is not there."""
    user = messages[-1]["content"]
    if "gizmos" in user:
        return "The documents don't contain this."
    fact = "Leeds" if "Where" in user else "blue"
    n = re.search(r"\[(\d+)\][^\[]*" + fact, user).group(1)
    return f"Widgets are made in Leeds. [{n}]" if fact == "Leeds" else f"Gadgets are blue. [{n}]"


def test_full_eval_measures_answers(tmp_path):
    qa, docs, pipeline = _setup(tmp_path, _answers_from_the_passages)
    results = run_eval(qa, docs, pipeline.settings, pipeline=pipeline)
    assert results["answer_containment"] == 1.0
    assert results["refusal_rate_unanswerable"] == 1.0 and results["false_refusal_rate"] == 0.0
    assert results["citation_precision"] == 1.0
    assert results["unsupported_sentence_rate"] == 0.0
    assert results["model"] == "scripted" and results["uncited_sentences"] == 0
    # The two answerable questions are answered (by the model or by a quote), the other declined.
    assert results["path_generated"] + results["path_extractive"] == pytest.approx(2 / 3, abs=1e-3) and results["path_declined"] == 0.3333
    assert "citation_precision" in format_table(results)


def test_off_topic_mode_hides_each_questions_document(tmp_path):
    qa, docs, pipeline = _setup(tmp_path, "Widgets are made in Leeds. [1]")
    results = run_eval(qa, docs, pipeline.settings, off_topic=True, pipeline=pipeline)
    # Only the weather in Oslo is left to retrieve: every question is declined, the model never asked.
    assert results["refusal_rate_off_topic"] == 1.0 and results["path_declined"] == 1.0
    assert pipeline.generator.calls == []
    assert "answer_containment" not in results


def test_a_file_that_cannot_be_read_is_listed_and_its_questions_count_as_misses(tmp_path):
    qa, docs, pipeline = _setup(tmp_path, _answers_from_the_passages)
    (docs / "annual-report.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    about_the_report = "Where are widgets made, says the annual report?"
    with qa.open("a") as questions:
        questions.write(json.dumps({"question": about_the_report, "doc": "annual-report.pdf", "answers": ["Leeds"]}) + "\n")
    answers, ask = {}, pipeline.ask

    def recorded_ask(question, **options):
        answers[question] = ask(question, **options)
        return answers[question]

    pipeline.ask = recorded_ask
    results = run_eval(qa, docs, pipeline.settings, pipeline=pipeline)
    assert results["questions"] == 4 and results["questions_on_failed_files"] == 1
    assert [(f["source"], f["reason"].split(" (")[0]) for f in results["failed_files"]] == [("annual-report.pdf", "damaged PDF")]
    assert "annual-report.pdf: damaged PDF" in format_table(results)
    # The other files' questions are scored as ever. The report's is a miss, though widgets.md answers it.
    assert "Leeds" in answers[about_the_report].text
    assert results["recall_at_5"] == pytest.approx(2 / 3, abs=1e-3)
    assert results["answer_containment"] == pytest.approx(2 / 3, abs=1e-3)
