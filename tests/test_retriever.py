"""Hybrid retrieval: the lexical index stays in step with Chroma, and fusion orders as documented."""

import pytest
from fakes import HashEmbedder

from ragapp.extract import extract
from ragapp.ingestion import ingest
from ragapp.retriever import DENSE, HYBRID, LEXICAL, fuse, retrieve
from ragapp.store import lexical_query, open_store


def _ingest(store, folder, **kwargs):
    return ingest([folder], store, HashEmbedder(), chunk_size=60, chunk_overlap=10, **kwargs)


def _chroma_ids(store) -> set[str]:
    return {p.id for record in store.documents() for p in store.passages_of(record.doc_id)}


def _lexical_ids(store) -> set[str]:
    rows = store._manifest._db.execute("SELECT passage_id FROM passage_text WHERE collection = ?", (store.name,))
    return {r[0] for r in rows}


@pytest.fixture
def store(tmp_path):
    return open_store(tmp_path / "store", "default", HashEmbedder.name)


def test_fusion_adds_reciprocal_ranks_and_weights_them():
    assert fuse([["a", "b", "c"], ["c", "a"]]) == ["a", "c", "b"]
    # Weighting the second ranking three times puts its first place first.
    assert fuse([["a", "b", "c"], ["c", "a"]], weights=(1, 3)) == ["c", "a", "b"]
    # A tie keeps the order in which the ids were first seen.
    assert fuse([["x", "y"], ["y", "x"]]) == ["x", "y"]


def test_lexical_queries_drop_filler_words_and_quote_the_rest():
    assert lexical_query('What is the "meal" allowance? OR NOT *') == '"meal" OR "allowance"'
    assert lexical_query("what is the") == ""


def test_lexical_index_follows_add_change_and_prune(store, sample_copy):
    _ingest(store, sample_copy)
    assert _lexical_ids(store) == _chroma_ids(store) and _chroma_ids(store)
    expenses = sample_copy / "handbook" / "expenses.md"
    [meal_id] = store.search_text("daily allowance meals", 1)
    assert meal_id in {p.id for p in _passages_of(store, "handbook/expenses.md")}

    expenses.write_text("# Expenses and travel\n\nEvery claim needs a receipt from the shop.\n")
    _ingest(store, sample_copy)
    assert _lexical_ids(store) == _chroma_ids(store)
    assert meal_id not in _lexical_ids(store)
    assert store.search_text("receipt shop", 1) == [p.id for p in _passages_of(store, "handbook/expenses.md")]

    expenses.unlink()
    _ingest(store, sample_copy, prune=True)
    assert _lexical_ids(store) == _chroma_ids(store)
    assert store.search_text("receipt shop", 5) == []
    assert "handbook/expenses.md" not in {r.source for r in store.documents()}


def test_a_crash_between_chroma_and_the_index_is_repaired_by_the_next_run(store, sample_copy, monkeypatch):
    _ingest(store, sample_copy)
    (sample_copy / "handbook" / "remote-work.md").write_text("# Remote work\n\nEveryone works from the lighthouse on Fridays.\n")
    manifest = store._manifest

    def crash(*args, **kwargs):
        raise OSError("killed")

    with monkeypatch.context() as patched:
        patched.setattr(manifest, "put", crash)
        report = _ingest(store, sample_copy)
    assert report.failed  # Chroma holds the new passages; the index and manifest the old ones
    assert _lexical_ids(store) != _chroma_ids(store)

    report = _ingest(store, sample_copy)
    assert not report.failed
    assert _lexical_ids(store) == _chroma_ids(store)
    assert store.search_text("lighthouse Fridays", 1)


def test_a_store_without_a_lexical_index_gets_one_on_first_search(tmp_path, sample_copy):
    store = open_store(tmp_path / "store", "default", HashEmbedder.name)
    _ingest(store, sample_copy)
    store._manifest.reindex("default", [])  # as a store from before the index existed
    reopened = open_store(tmp_path / "store", "default", HashEmbedder.name)
    assert reopened.search_text("daily allowance meals", 1)
    assert _lexical_ids(reopened) == _chroma_ids(reopened)


def test_every_mode_returns_k_scored_hits_and_respects_hidden_sources(store, sample_copy):
    _ingest(store, sample_copy)
    embedder = HashEmbedder()
    question = "What is the daily allowance for meals when travelling?"
    for mode in (DENSE, LEXICAL, HYBRID):
        hits = retrieve(question, embedder, store, 3, mode=mode)
        assert len(hits) == 3 and len({h.passage.id for h in hits}) == 3
        assert hits[0].passage.source == "handbook/expenses.md", mode
        assert all(-1.0 <= h.score <= 1.0001 for h in hits)
        hidden = retrieve(question, embedder, store, 3, exclude_sources=["handbook/expenses.md"], mode=mode)
        assert all(h.passage.source != "handbook/expenses.md" for h in hidden)
    with pytest.raises(ValueError, match="retrieval mode"):
        retrieve(question, embedder, store, 3, mode="magic")


def test_rare_words_weigh_more_in_choosing_the_quote(store, sample_copy):
    _ingest(store, sample_copy)
    weights = store.word_weights(["allowance", "employee"])
    assert weights["allowance"] > weights["employee"] > 0
    embedder = HashEmbedder()
    hits = retrieve("daily meal allowance", embedder, store, 3)
    [quote] = extract("daily meal allowance", hits, embedder, word_weights=store.word_weights(["daily", "meal", "allowance"]))
    assert "45 euros" in quote.sentence


def _passages_of(store, source):
    record = next(r for r in store.documents() if r.source == source)
    return store.passages_of(record.doc_id)
