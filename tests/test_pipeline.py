import re

from fakes import HashEmbedder, ScriptedGenerator

from ragapp.documents import DECLINED, EXTRACTIVE, GENERATED
from ragapp.pipeline import NO_DOCUMENTS, Pipeline
from ragapp.prompts import REFUSAL


def _pipeline(settings, reply):
    return Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator(reply))


LEAVE_FACT = "Every full-time employee receives 27 days of paid annual leave per calendar year"
LEAVE_QUESTION = "How many days of paid annual leave does a full-time employee get per year?"


def _quote_number(messages, words: str) -> int:
    """The number the model's prompt gives to the quoted sentence holding these words."""
    user = messages[-1]["content"]
    return int(re.search(r"\[(\d+)\][^\[]*" + re.escape(words), user).group(1))


def _cite(words: str, sentence: str, wrong: bool = False):
    """A reply stating a sentence and citing the quote holding `words` (or another passage)."""

    def reply(messages):
        n = _quote_number(messages, words)
        if wrong:
            n = 1 if n != 1 else 2
        return f"{sentence} [{n}]"

    return reply


SHORT = "Full-time employees get 27 days of paid annual leave a year."


def test_the_quote_is_shown_first_then_a_checked_sentence_of_the_model(settings, sample_copy):
    pipeline = _pipeline(settings, _cite(LEAVE_FACT, SHORT))
    pipeline.ingest([sample_copy])
    streamed = []
    answer = pipeline.ask(LEAVE_QUESTION, on_token=streamed.append)
    assert answer.path == GENERATED and not answer.refused and answer.withheld == 0
    assert "".join(streamed) == answer.text
    assert answer.text.startswith("\u201c" + LEAVE_FACT) and answer.text.endswith(SHORT + " [1]")
    [citation] = answer.citations
    assert citation.source == "handbook/leave-policy.md" and "27 days" in citation.text
    assert answer.timings.first_token_s is not None and answer.timings.total_s >= answer.timings.retrieval_s
    # The model is shown the quoted sentences only, and held to a grammar naming the passages.
    prompt = pipeline.generator.calls[-1][-1]["content"]
    assert LEAVE_FACT in prompt and "Parental leave" not in prompt
    assert f'"{len(answer.hits)}"' in pipeline.generator.grammars[-1]


def test_an_answer_checks_against_the_stored_vectors_and_embeds_no_passage_again(settings, sample_copy):
    pipeline = _pipeline(settings, _cite(LEAVE_FACT, SHORT))
    pipeline.ingest([sample_copy])
    pipeline.embedder.embedded.clear()
    answer = pipeline.ask(LEAVE_QUESTION)
    assert answer.path == GENERATED and answer.withheld == 0  # the model's sentence was checked
    embedded = set(pipeline.embedder.embedded)
    assert LEAVE_QUESTION in embedded
    assert any(SHORT in text for text in embedded)  # the check of the model's sentence
    assert not embedded & {h.passage.text for h in answer.hits}  # read back from the store instead


def test_the_quoted_answer_reaches_the_reader_before_the_model_starts(settings, sample_copy):
    streamed = []

    def reply(messages):
        # What the reader had when the model was called: the quote, already complete.
        assert streamed and LEAVE_FACT in "".join(streamed)
        return f"{SHORT} [1]"

    pipeline = _pipeline(settings, reply)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask(LEAVE_QUESTION, on_token=streamed.append)
    assert pipeline.generator.calls and answer.path == GENERATED


def test_a_citation_to_the_wrong_passage_is_moved_to_the_right_one(settings, sample_copy):
    pipeline = _pipeline(settings, _cite(LEAVE_FACT, SHORT, wrong=True))
    pipeline.ingest([sample_copy])
    answer = pipeline.ask(LEAVE_QUESTION)
    assert answer.path == GENERATED
    [citation] = answer.citations
    assert "27 days" in citation.text and answer.text.endswith(f"[{citation.n}]")


def test_an_unsupported_sentence_of_the_model_is_withheld_and_the_quote_stays(settings, sample_copy):
    pipeline = _pipeline(settings, "The leave policy was written by Maria Lopez in 1999. [1]")
    pipeline.ingest([sample_copy])
    streamed = []
    answer = pipeline.ask(LEAVE_QUESTION, on_token=streamed.append)
    assert answer.path == EXTRACTIVE and answer.withheld == 1 and not answer.refused
    assert "Maria" not in answer.text and "Maria" not in "".join(streamed)
    assert "27 days of paid annual leave" in answer.text
    [citation] = answer.citations
    assert "27 days" in citation.text and answer.text.endswith(f"[{citation.n}]")
    assert "".join(streamed) == answer.text


def test_the_quote_said_again_or_the_question_said_back_is_not_shown(settings, sample_copy):
    for reply in (_cite(LEAVE_FACT, LEAVE_FACT + "."), "Yes, a full-time employee gets days of paid annual leave per year. [1]"):
        pipeline = _pipeline(settings, reply)
        pipeline.ingest([sample_copy])
        answer = pipeline.ask(LEAVE_QUESTION)
        assert answer.path == EXTRACTIVE and answer.text.count("annual leave") == 1


def test_the_model_saying_the_documents_do_not_contain_it_does_not_hide_the_quote(settings, sample_copy):
    pipeline = _pipeline(settings, REFUSAL)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask(LEAVE_QUESTION)
    assert not answer.refused and answer.path == EXTRACTIVE and "27 days" in answer.text


def test_without_the_model_sentence_no_model_is_loaded(settings, sample_copy):
    pipeline = Pipeline(settings.replace(model_sentence=False), embedder=HashEmbedder(), generator=None)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask(LEAVE_QUESTION)
    assert answer.path == EXTRACTIVE and "27 days" in answer.text
    assert pipeline._generator is None


def test_each_part_of_a_question_gets_its_own_quote(settings, sample_copy):
    pipeline = _pipeline(settings, REFUSAL)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask("How many days of paid annual leave do full-time employees get, and how long is parental leave for birth parents?")
    assert "27 days" in answer.text and "20 weeks" in answer.text
    assert {c.source for c in answer.citations} == {"handbook/leave-policy.md"}


def test_an_overview_quotes_the_opening_of_each_section_in_the_documents_order(settings, sample_copy):
    generator = ScriptedGenerator("Anything. [1]")
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=generator)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask("Summarise the leave policy")
    assert answer.lead.startswith("Summary of Leave policy (handbook/leave-policy.md)")
    assert {c.source for c in answer.citations} == {"handbook/leave-policy.md"} and len(answer.citations) >= 3
    assert answer.text.index("27 days") < answer.text.index("ill") < answer.text.index("Birth parents")
    assert generator.calls == []  # nothing for the model to add to the document's own words


def test_the_relevance_gate_declines_without_calling_the_model_and_shows_related_passages(settings, sample_copy):
    generator = ScriptedGenerator("Anything. [1]")
    # Relevance is at most 2.1 (similarity 1, half of all key words in the sentence and half in its
    # neighbours, 0.1 for the first passage): nothing passes 2.5.
    pipeline = Pipeline(settings.replace(min_relevance=2.5), embedder=HashEmbedder(), generator=generator)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask(LEAVE_QUESTION)
    assert answer.path == DECLINED and answer.refused and answer.text == REFUSAL
    assert generator.calls == []
    assert len(answer.related) == settings.top_k and answer.citations == []


def test_an_off_topic_question_is_declined_by_the_gate(settings, sample_copy):
    generator = ScriptedGenerator("Anything. [1]")
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=generator)
    pipeline.ingest([sample_copy])
    for question in ("Who won the football world cup in 2022?", "How do I bake sourdough bread?"):
        answer = pipeline.ask(question)
        assert answer.path == DECLINED and answer.related
    assert generator.calls == []
    assert pipeline.ask(LEAVE_QUESTION).path != DECLINED and generator.calls


def test_hidden_sources_are_never_retrieved(settings, sample_copy):
    pipeline = _pipeline(settings, REFUSAL)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask(LEAVE_QUESTION, exclude_sources=["handbook/leave-policy.md"])
    assert all(h.passage.source != "handbook/leave-policy.md" for h in answer.hits + answer.related)


def test_empty_collection_answers_without_calling_the_model(settings):
    generator = ScriptedGenerator()
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=generator)
    answer = pipeline.ask("anything?")
    assert answer.refused and answer.text == NO_DOCUMENTS
    assert generator.calls == []


def test_json_shape(settings, sample_copy):
    pipeline = _pipeline(settings, _cite(LEAVE_FACT, SHORT))
    pipeline.ingest([sample_copy])
    data = pipeline.ask(LEAVE_QUESTION).to_json()
    assert set(data) == {"answer", "lead", "query", "refused", "path", "withheld", "citations", "related", "timings"}
    assert data["path"] == "generated"
    assert set(data["citations"][0]) == {"n", "source", "page", "heading", "text"}


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


def test_a_context_too_small_for_the_model_leaves_the_quoted_answer_without_calling_it(settings, sample_copy):
    generator = ScriptedGenerator(context_size=40)
    pipeline = Pipeline(settings.replace(max_answer_tokens=30), embedder=HashEmbedder(), generator=generator)
    pipeline.ingest([sample_copy])
    answer = pipeline.ask(LEAVE_QUESTION)
    assert not answer.refused and answer.path == EXTRACTIVE and "27 days" in answer.text
    assert generator.calls == []
