"""The pipeline with the real bundled models and a real Chroma store."""

from __future__ import annotations

import shutil

import pytest

from ragapp.pipeline import Pipeline
from ragapp.settings import Settings
from integration.helpers import CountingEmbedder

pytestmark = pytest.mark.integration


def test_first_ingest_stores_markdown_text_and_pdfs(ingested):
    pipeline, report = ingested
    statuses = {o.source: o.status for o in report.outcomes}
    assert statuses["lighthouse-briefing.pdf"] == "added"
    assert statuses["benefits-guide.pdf"] == "added"
    assert set(statuses.values()) == {"added"}
    assert pipeline.store().count() == report.passages > 0


def test_answer_cites_the_document_that_holds_it(ingested):
    pipeline, _ = ingested
    answer = pipeline.ask("How many days of paid annual leave do full-time employees get?")
    assert not answer.refused, answer.text
    assert "handbook/leave-policy.md" in {c.source for c in answer.citations}, answer.text


def test_answer_from_the_generated_pdf_cites_its_page(ingested):
    pipeline, _ = ingested
    answer = pipeline.ask("What is the total budget of the Lighthouse project?")
    assert not answer.refused, answer.text
    cited = {(c.source, c.page) for c in answer.citations}
    assert ("lighthouse-briefing.pdf", 2) in cited, (answer.text, cited)


def test_answer_streams_and_reports_timings(ingested):
    pipeline, _ = ingested
    pieces: list[str] = []
    answer = pipeline.ask("What is the daily meal allowance when travelling?", on_token=pieces.append)
    # Shown as it is checked: sentence by sentence, adding up to the answer.
    assert pieces and "".join(pieces) == answer.text and "45" in answer.text
    t = answer.timings
    assert 0 < t.retrieval_s <= t.first_token_s <= t.total_s


def test_reingest_embeds_nothing(ingested, docs_dir):
    pipeline, first = ingested
    embedded_before = pipeline.embedder.embedded
    count_before = pipeline.store().count()
    again = pipeline.ingest([docs_dir])
    assert {o.status for o in again.outcomes} == {"unchanged"}
    assert pipeline.embedder.embedded == embedded_before
    assert pipeline.store().count() == count_before


def test_changed_file_loses_its_old_passages(tmp_path, docs_dir, real_embedder, real_generator):
    folder = tmp_path / "kb"
    shutil.copytree(docs_dir, folder)
    pipeline = Pipeline(Settings(store_dir=tmp_path / "store"), embedder=CountingEmbedder(real_embedder), generator=real_generator)
    pipeline.ingest([folder])
    policy = folder / "handbook" / "expenses.md"
    policy.write_text(
        "# Expenses and travel\n\nWhile travelling for work you may claim meals up to a daily allowance of 60 euros.\n"
    )
    report = pipeline.ingest([folder])
    assert {o.source: o.status for o in report.outcomes}["handbook/expenses.md"] == "updated"
    store = pipeline.store()
    doc_id = next(d.doc_id for d in store.documents() if d.source == "handbook/expenses.md")
    texts = [p.text for p in store.passages_of(doc_id)]
    assert len(texts) == 1 and "60 euros" in texts[0]
    hits = store.query(real_embedder.embed_batch(["daily meal allowance when travelling"])[0], 10)
    assert not any("45 euros" in h.passage.text for h in hits), "an old passage of the changed file is still stored"


def test_passages_fit_the_embedders_window(ingested, real_embedder):
    pipeline, _ = ingested
    store = pipeline.store()
    sizes = [
        real_embedder.count_tokens(p.text)
        for record in store.documents()
        for p in store.passages_of(record.doc_id)
    ]
    assert real_embedder.count_tokens("The daily meal allowance is 45 euros.") == 8  # the daily meal allowance is 45 euros .
    assert sizes and max(sizes) <= pipeline.settings.chunk_size <= real_embedder.max_tokens - 2
