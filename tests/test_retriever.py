"""Hybrid retrieval: the lexical index stays in step with Chroma, and fusion orders as documented."""

import dataclasses

import pytest
from fakes import HashEmbedder

from ragapp.store import manifest as store_module
from ragapp.compose import candidates, scored
from ragapp.ingestion import ingest
from ragapp.documents import Hit, Passage
from ragapp.retriever import DENSE, HYBRID, LEXICAL, retrieve
from ragapp.store import Filter, lexical_table, lexical_query


def _ingest(store, folder, **kwargs):
    return ingest([folder], store, HashEmbedder(), chunk_size=60, chunk_overlap=10, **kwargs)


def _chroma_ids(store) -> set[str]:
    return {p.id for record in store.documents() for p in store.passages_of(record.doc_id)}


def _lexical_ids(store) -> set[str]:
    rows = store._manifest._db.execute(f"SELECT passage_id FROM {lexical_table(store.name)}")
    return {r[0] for r in rows}


@pytest.fixture
def store(tmp_path, open_test_store):
    return open_test_store(tmp_path / "store")


class _RankedStore:
    """Stands in for a Store whose two searches return fixed rankings, to check the fusion."""

    def __init__(self, passages, dense, lexical):
        self.passages = {p.id: p for p in passages}
        self.dense, self.lexical = dense, lexical  # [(id, cosine)], [(id, bm25)]

    def scope(self, only=None, exclude_sources=()):
        return None

    def query(self, vector, k, scope=None):
        return [Hit(self.passages[pid], cos) for pid, cos in self.dense[:k]]

    def search_text(self, text, k, scope=None):
        return self.lexical[:k]

    def hits(self, ids, vector):
        cosines = dict(self.dense)
        return {pid: Hit(self.passages[pid], cosines.get(pid, 0.1)) for pid in ids}

    def word_weights(self, words):
        return {w: 1.0 for w in words}


def _passage(pid, text):
    return Passage(pid, "doc", text, "a.md", "/a.md", "A", None, 0, len(text), "h", 0)


def test_hybrid_scores_meaning_words_and_key_word_share_together():
    passages = [
        _passage("close", "Staff travel is planned with the team lead in advance."),
        _passage("wordy", "Allowance allowance allowance: see the allowance table."),
        _passage("both", "The daily meal allowance when travelling is 45 euros."),
        _passage("far", "The office is closed on public holidays."),
    ]
    dense = [("close", 0.80), ("both", 0.72), ("far", 0.30)]  # meaning alone puts "close" first
    lexical = [("wordy", 9.0), ("both", 6.0)]  # BM25 alone puts "wordy" first
    store = _RankedStore(passages, dense, lexical)
    hits = retrieve("daily meal allowance when travelling", HashEmbedder(), store, 4)
    # "both" is near in meaning and holds every key word: first. "close" shares no key word, but
    # meaning weighs most; "far" is last on every count.
    assert [h.passage.id for h in hits] == ["both", "close", "wordy", "far"]
    assert dict((h.passage.id, h.score) for h in hits)["both"] == 0.72  # hits keep their cosine
    assert retrieve("daily meal allowance", HashEmbedder(), store, 4, mode=LEXICAL)[0].passage.id == "wordy"
    assert retrieve("daily meal allowance", HashEmbedder(), store, 4, mode=DENSE)[0].passage.id == "close"


def test_lexical_queries_drop_filler_words_and_quote_the_rest():
    assert lexical_query('What is the "meal" allowance? OR NOT *') == '"meal" OR "allowance"'
    assert lexical_query("what is the") == ""


def test_lexical_index_follows_add_change_and_prune(store, sample_copy):
    _ingest(store, sample_copy)
    assert _lexical_ids(store) == _chroma_ids(store) and _chroma_ids(store)
    expenses = sample_copy / "handbook" / "expenses.md"
    [(meal_id, _)] = store.search_text("daily allowance meals", 1)
    assert meal_id in {p.id for p in _passages_of(store, "handbook/expenses.md")}

    expenses.write_text("# Expenses and travel\n\nEvery claim needs a receipt from the shop.\n")
    _ingest(store, sample_copy)
    assert _lexical_ids(store) == _chroma_ids(store)
    assert meal_id not in _lexical_ids(store)
    assert [pid for pid, _ in store.search_text("receipt shop", 1)] == [p.id for p in _passages_of(store, "handbook/expenses.md")]

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


def test_a_store_without_a_lexical_index_gets_one_on_first_search(tmp_path, sample_copy, open_test_store):
    store = open_test_store(tmp_path / "store")
    _ingest(store, sample_copy)
    store._manifest.reindex("default", [])  # as a store from before the index existed
    reopened = open_test_store(tmp_path / "store")
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
    best = scored("daily meal allowance", candidates(hits), embedder, store.word_weights(["daily", "meal", "allowance"]))[0]
    assert "45 euros" in best.sentence


def _passages_of(store, source):
    record = next(r for r in store.documents() if r.source == source)
    return store.passages_of(record.doc_id)


def test_filters_restrict_every_mode_to_documents_folders_and_types(store, sample_copy):
    _ingest(store, sample_copy)
    embedder = HashEmbedder()
    # Words found in every document searched below, so that each search has something to find.
    question = "What is the daily allowance for meals and the on-call leave for employees?"
    for mode in (DENSE, LEXICAL, HYBRID):
        in_folder = retrieve(question, embedder, store, 5, mode=mode, only=Filter(folders=("engineering",)))
        assert in_folder and {h.passage.source.split("/")[0] for h in in_folder} == {"engineering"}, mode
        pdfs = retrieve(question, embedder, store, 5, mode=mode, only=Filter(types=("pdf",)))
        assert pdfs and {h.passage.source for h in pdfs} == {"benefits-guide.pdf"}, mode
        one = retrieve(question, embedder, store, 5, mode=mode, only=Filter(documents=("handbook/onboarding.md",)))
        assert one and {h.passage.source for h in one} == {"handbook/onboarding.md"}, mode
        # Kinds combine: Markdown files in the handbook folder, less a hidden one.
        both = retrieve(
            question, embedder, store, 20, mode=mode, only=Filter(folders=("handbook",), types=("md",)),
            exclude_sources=["handbook/expenses.md"],
        )
        sources = {h.passage.source for h in both}
        assert sources and all(s.startswith("handbook/") and s.endswith(".md") for s in sources), mode
        assert "handbook/expenses.md" not in sources
        assert retrieve(question, embedder, store, 5, mode=mode, only=Filter(types=("docx",))) == []


def test_filters_are_read_from_the_command_line_form():
    only = Filter.parse(["folder=handbook/", "type=.PDF", "doc=a b.md", "type=*.md"])
    assert only == Filter(documents=("a b.md",), folders=("handbook",), types=("pdf", "md"))
    assert Filter.parse([]).is_empty()
    with pytest.raises(ValueError, match="doc=PATH, folder=FOLDER or type=EXTENSION"):
        Filter.parse(["handbook"])


def test_collections_share_the_index_file_but_never_each_others_passages(tmp_path, sample_copy, open_test_store):
    kb = open_test_store(tmp_path / "store", "team")
    old = open_test_store(tmp_path / "store", "old-team")  # "team" is a part of its name
    _ingest(kb, sample_copy / "handbook")
    _ingest(old, sample_copy / "engineering")
    assert _lexical_ids(kb) == _chroma_ids(kb) and _lexical_ids(old) == _chroma_ids(old)
    assert not _lexical_ids(kb) & _lexical_ids(old)
    assert store_sources(kb, "daily allowance meals on call") <= {"expenses.md", "leave-policy.md", "onboarding.md", "remote-work.md"}
    kb.reset()
    assert _lexical_ids(kb) == set() and _lexical_ids(old) == _chroma_ids(old) != set()


def store_sources(store, text):
    ids = {pid for pid, _ in store.search_text(text, 50)}
    return {p.source for record in store.documents() for p in store.passages_of(record.doc_id) if p.id in ids}


def test_large_collections_leave_common_words_out_of_lexical_searches(store, tmp_path, monkeypatch):
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(12):
        extra = " The lighthouse keeper signs the policy." if i == 7 else ""
        (folder / f"note-{i:02d}.md").write_text(f"# Note {i}\n\nThe policy applies to note {i}.{extra}\n")
    _ingest(store, folder)
    monkeypatch.setattr(store_module, "LARGE_COLLECTION", 5)  # as if these 12 passages were many
    manifest = store._manifest
    assert manifest._telling_words(store.name, ["policy", "lighthouse", "zebra"]) == ["lighthouse"]
    assert manifest._telling_words(store.name, ["policy", "note"]) in (["policy"], ["note"])  # the rarest
    [(found, _)] = store.search_text("policy lighthouse", 5)
    assert found == next(p.id for p in _passages_of(store, "note-07.md"))
    monkeypatch.setattr(store_module, "LARGE_COLLECTION", 20_000)
    assert len(store.search_text("policy lighthouse", 20)) == 12  # small collections keep every word


def test_the_same_passage_in_two_copies_of_a_file_is_retrieved_once(store, sample_copy):
    copy = sample_copy / "archive" / "expenses-copy.md"
    copy.parent.mkdir()
    copy.write_text((sample_copy / "handbook" / "expenses.md").read_text())
    _ingest(store, sample_copy)
    for mode in (DENSE, LEXICAL, HYBRID):
        hits = retrieve("What is the daily allowance for meals when travelling?", HashEmbedder(), store, 5, mode=mode)
        texts = [h.passage.text for h in hits]
        assert len(hits) == 5 and len(set(texts)) == 5, mode


def test_passages_stored_with_their_text_as_chromas_document_and_a_key_per_field_are_read_and_found_as_before(store, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "parking.md").write_text("# Parking\n\nStaff park in the north garage with a blue permit.\n")
    (folder / "canteen.md").write_text("# Canteen\n\nThe canteen serves soup on Mondays and fish on Fridays.\n")
    _ingest(store, folder)
    parking = next(r for r in store.documents() if r.source == "parking.md")
    stored = store.passages_of(parking.doc_id)
    # Written the way passages were stored before: the text as Chroma's document, each field a key.
    vectors = store.vectors([p.id for p in stored])
    old_metadata = [{k: v for k, v in dataclasses.asdict(p).items() if k not in ("id", "text") and v not in (None, "")} for p in stored]
    store._collection.delete(ids=[p.id for p in stored])
    store._collection.add(
        ids=[p.id for p in stored], documents=[p.text for p in stored], metadatas=old_metadata,
        embeddings=[vectors[p.id] for p in stored],
    )
    assert "text" not in store._collection.get(ids=[stored[0].id], include=["metadatas"])["metadatas"][0]
    assert store.passages_of(parking.doc_id) == stored
    question = "Where do staff park?"
    vector = HashEmbedder().embed_batch([question])[0]
    top = retrieve(question, HashEmbedder(), store, 2)
    assert top[0].passage.text == stored[0].text and "north garage" in top[0].passage.text
    assert store.hits([stored[0].id], vector)[stored[0].id].passage.text == stored[0].text
    assert {h.passage.text for h in store.query(vector, 2)} == {p.text for r in store.documents() for p in store.passages_of(r.doc_id)}
