import re

from fakes import HashEmbedder, ScriptedGenerator

from ragapp.pipeline import NO_DOCUMENTS, Pipeline
from ragapp.prompts import REFUSAL


def _pipeline(settings, reply):
    return Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator(reply))


def test_answer_cites_the_passage_it_was_shown(settings, sample_copy):
    pipeline = _pipeline(settings, "You get 27 days of paid annual leave [1].")
    pipeline.ingest([sample_copy])
    streamed = []
    answer = pipeline.ask("How many days of paid annual leave do employees get?", on_token=streamed.append)
    assert "".join(streamed).strip() == answer.text
    assert not answer.refused
    assert [c.n for c in answer.citations] == [1]
    assert answer.citations[0].source == answer.hits[0].passage.source
    assert answer.citations[0].text == answer.hits[0].passage.text
    assert answer.timings.first_token_s is not None and answer.timings.total_s >= answer.timings.retrieval_s
    # The model is held to a grammar naming only the passages it was shown.
    assert f'"{len(answer.hits)}"' in pipeline.generator.grammars[-1]


def test_pdf_citations_carry_their_page(settings, sample_copy):
    def cite_the_pdf(messages):
        user = messages[-1]["content"]
        n = re.search(r"\[(\d+)\][^\[]*learning budget of 1,500 euros", user).group(1)
        return f"The learning budget is 1,500 euros [{n}]."

    pipeline = _pipeline(settings, cite_the_pdf)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask("What is the learning budget per year for courses and conferences?")
    assert answer.citations[0].source == "benefits-guide.pdf"
    assert answer.citations[0].page == 3
    assert answer.citations[0].location() == "benefits-guide.pdf, page 3"


def test_citations_to_passages_that_were_not_shown_are_removed(settings, sample_copy):
    pipeline = _pipeline(settings, "Leave is 27 days [1] [9].")
    pipeline.ingest([sample_copy])
    answer = pipeline.ask("annual leave days")
    assert "[9]" not in answer.text and [c.n for c in answer.citations] == [1]


def test_model_refusal_is_flagged_without_sources(settings, sample_copy):
    pipeline = _pipeline(settings, REFUSAL)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask("Who won the football world cup in 2022?")
    assert answer.refused and answer.citations == []


def test_empty_collection_answers_without_calling_the_model(settings):
    generator = ScriptedGenerator()
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=generator)
    answer = pipeline.ask("anything?")
    assert answer.refused and answer.text == NO_DOCUMENTS
    assert generator.calls == []


def test_json_shape(settings, sample_copy):
    pipeline = _pipeline(settings, "Meals up to 45 euros a day [1].")
    pipeline.ingest([sample_copy])
    data = pipeline.ask("daily meal allowance").to_json()
    assert set(data) == {"answer", "refused", "citations", "timings"}
    assert set(data["citations"][0]) == {"n", "source", "page", "text"}


def test_deleting_an_upload_removes_its_copy_but_never_a_users_file(settings, sample_copy):
    pipeline = _pipeline(settings, "x [1].")
    upload = settings.upload_dir.resolve() / "abc" / "notes.txt"
    upload.parent.mkdir(parents=True)
    upload.write_text("Uploaded notes about the quarterly offsite in Lisbon.")
    pipeline.ingest([upload, sample_copy])
    records = {d.source: d for d in pipeline.documents()}
    pipeline.delete_document(records["notes.txt"].doc_id)
    pipeline.delete_document(records["handbook/expenses.md"].doc_id)
    remaining = {d.source for d in pipeline.documents()}
    assert "notes.txt" not in remaining and "handbook/expenses.md" not in remaining
    assert not upload.exists()
    assert (sample_copy / "handbook" / "expenses.md").exists()


def test_a_context_too_small_for_any_passage_says_so_without_calling_the_model(settings, sample_copy):
    generator = ScriptedGenerator(context_size=40)
    pipeline = Pipeline(settings.replace(max_answer_tokens=30), embedder=HashEmbedder(), generator=generator)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask("How many days of annual leave?")
    assert answer.refused and "RAGAPP_CONTEXT_SIZE" in answer.text
    assert generator.calls == []
