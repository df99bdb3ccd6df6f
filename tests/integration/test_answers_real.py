"""What a person asking the sample handbook must get, with the real bundled models."""

from __future__ import annotations

import re

import pytest

from ragapp.verify import bound, split_claims

pytestmark = pytest.mark.integration


def _model_sentences(answer) -> list[tuple[str, list[int]]]:
    """The sentences of an answer that are not quotes: the model's, shown as checked."""
    return [(s, cited) for s, cited in split_claims(answer.text) if not s.startswith("\u201c")]


def test_a_two_part_question_gets_both_parts(ingested):
    pipeline, _ = ingested
    answer = pipeline.ask("What is the daily meal allowance when travelling, and do I need receipts?")
    assert "45 euros" in answer.text and re.search(r"receipts?\b", answer.text), answer.text


def test_a_yes_no_question_gets_the_conditions_the_documents_attach(ingested):
    pipeline, _ = ingested
    answer = pipeline.ask("Can I work from another country for a month?")
    for condition in ("20 working days", "European Union", "a week ahead"):
        assert condition in answer.text, answer.text
    assert not answer.text.startswith("Yes")


def test_being_paged_is_answered_from_the_section_on_responding_to_a_page(ingested):
    # "paged" is not a word of the section; its stem "page" is, and the section's text is about it.
    pipeline, _ = ingested
    answer = pipeline.ask("What happens if I am paged at night while on call?")
    assert not answer.refused, answer.text
    assert "Acknowledge a page within 15 minutes" in answer.text, answer.text
    assert all(c.passage.heading.endswith("Responding to a page") for c in answer.citations), answer.citations


def test_a_name_shared_with_the_question_is_not_an_answer(ingested):
    pipeline, _ = ingested
    for question in ("Who is the CEO of Fernhill Analytics?", "When was Fernhill Analytics founded?"):
        answer = pipeline.ask(question)
        assert answer.refused, answer.text


def test_an_overview_cites_several_sections_of_the_document_it_names(ingested):
    pipeline, _ = ingested
    answer = pipeline.ask("Summarise the expenses policy")
    assert "expenses.md" in answer.lead
    headings = {c.passage.heading for c in answer.citations}
    assert len(headings) >= 3 and all(c.source == "handbook/expenses.md" for c in answer.citations), headings
    assert "receipt" in answer.text and "45 euros" in answer.text


def test_the_paris_hotel_price_is_never_shown_bound_to_the_wrong_number(ingested):
    pipeline, _ = ingested
    answer = pipeline.ask("How much may a hotel cost per night in Paris?")
    assert "220 euros" in answer.text, answer.text
    for sentence, cited in _model_sentences(answer):
        passage = answer.hits[cited[0] - 1].passage.text
        assert bound(sentence, passage), sentence
        assert not ("150" in sentence and "Paris" in sentence), sentence
