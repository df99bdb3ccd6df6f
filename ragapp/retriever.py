"""Find the passages that best match a question: dense (Chroma) and lexical (BM25) search, fused.

Hybrid scoring of each candidate passage (the best CANDIDATES of each search, pooled):

    DENSE_WEIGHT x cosine similarity to the question
    + LEXICAL_WEIGHT x its BM25 score / the best BM25 score of this question
    + WORDS_WEIGHT x the share of the question's key words it holds, rare words weighing more

Tuned on ../shared/bench/squad2-dev (README, "Retrieval"): over the 2,910 answerable questions this
scores recall@5 0.972 and MRR@10 0.897, against 0.964 / 0.878 for weighted reciprocal rank fusion
of the same two rankings; weights picked on the even-numbered questions held on the odd ones.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

from ragapp import series
from ragapp.documents import Hit, Passage
from ragapp.embedder import Embedder, embed_one
from ragapp.reranker import Reranker
from ragapp.store import Filter, Scope, Store
from ragapp.text import content_words

DENSE, LEXICAL, HYBRID = "dense", "lexical", "hybrid"
MODES = (DENSE, LEXICAL, HYBRID)

CANDIDATES = 30
RERANK_CANDIDATES = 20  # hybrid hits a configured cross-encoder reorders
DENSE_WEIGHT, LEXICAL_WEIGHT, WORDS_WEIGHT = 0.7, 0.1, 0.25
# Documents of a series (ragapp.series) look alike: four quarterly reports of one company hold the
# same tables, a year's comparative figures included. The one of the period the question names gets
# SERIES_WEIGHT; where it names none, the newest of the series gets NEWEST_WEIGHT (SERIES_WEIGHT
# when it asks for the latest), enough to settle a near tie, not to outweigh what the text says.
SERIES_WEIGHT, NEWEST_WEIGHT = 0.15, 0.05


def retrieve(
    question: str,
    embedder: Embedder,
    store: Store,
    k: int,
    exclude_sources: Sequence[str] = (),
    mode: str = HYBRID,
    only: Filter | None = None,
    word_weights: Mapping[str, float] | None = None,
    reranker: Reranker | None = None,
) -> list[Hit]:
    """The top-k passages for the question, best first; each hit scored by cosine similarity.

    mode: HYBRID fuses dense and lexical search; DENSE or LEXICAL uses one of them alone.
    exclude_sources: documents (source paths) to leave out, as if they were not in the store.
    only: search only the documents this filter matches.
    word_weights: the question's key words weighted by rarity (Store.word_weights), if known.
    reranker: reorders the best RERANK_CANDIDATES hybrid hits before the top k are taken.
    """
    if not question.strip() or k <= 0:
        return []
    if mode not in MODES:
        raise ValueError(f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")
    scope = store.scope(only, exclude_sources)
    vector = embed_one(embedder, question)
    if mode == DENSE:
        return distinct(store.query(vector, max(k, CANDIDATES), scope), k)
    lexical = store.search_text(question, max(k, CANDIDATES), scope)
    if mode == LEXICAL:
        chosen = [pid for pid, _ in lexical]
        found = store.hits(chosen, vector)
        return distinct([found[pid] for pid in chosen if pid in found], k)

    dense = {hit.passage.id: hit for hit in store.query(vector, max(k, CANDIDATES), scope)}
    found = {**dense, **store.hits([pid for pid, _ in lexical if pid not in dense], vector)}
    asked_period = series.asked_period(question)
    chosen, set_aside = series.of_the_period(asked_period, [hit.passage for hit in found.values()])
    if chosen:
        # The question names the period of some documents of a series: it is answered from those.
        # Their own best passages are searched for (among four alike reports, the other three's
        # passages fill the first candidates), and the other reports of their series are set aside.
        narrowed = Scope(doc_ids=sorted(chosen), exclude_doc_ids=scope.exclude_doc_ids if scope else [])
        own_lexical = store.search_text(question, max(k, CANDIDATES), narrowed)
        own = {hit.passage.id: hit for hit in store.query(vector, max(k, CANDIDATES), narrowed)}
        own.update(store.hits([pid for pid, _ in own_lexical if pid not in own], vector))
        found = {pid: hit for pid, hit in {**found, **own}.items() if hit.passage.doc_id not in set_aside}
        lexical = sorted({**dict(lexical), **dict(own_lexical)}.items(), key=lambda item: -item[1])
    asked = content_words(question)
    if word_weights is None:
        word_weights = store.word_weights(sorted(asked))
    best_bm25 = max((score for _, score in lexical), default=0.0) or 1.0
    bm25 = {pid: score / best_bm25 for pid, score in lexical}
    scores = {
        pid: DENSE_WEIGHT * hit.score
        + LEXICAL_WEIGHT * bm25.get(pid, 0.0)
        + WORDS_WEIGHT * word_share(asked, hit.passage, word_weights)
        for pid, hit in found.items()
    }
    if chosen:
        for pid, hit in found.items():
            scores[pid] += SERIES_WEIGHT if hit.passage.doc_id in chosen else 0.0
    else:
        for pid, bonus in series_bonus(asked_period, found.values()).items():
            scores[pid] += bonus
    # Ties keep dense order, then lexical order: the order in which `found` met them.
    order = {pid: i for i, pid in enumerate(found)}
    ranked = [found[pid] for pid in sorted(found, key=lambda pid: (-scores[pid], order[pid]))]
    if reranker is not None:
        ranked = reranker.rerank(question, distinct(ranked, max(k, RERANK_CANDIDATES)))
    return distinct(ranked, k)


def distinct(hits: Sequence[Hit], k: int) -> list[Hit]:
    """The first k hits whose texts differ: the same passage in two copies of a file is shown once."""
    seen: set[str] = set()
    kept = []
    for hit in hits:
        text = " ".join(hit.passage.text.split()).lower()
        if text not in seen:
            seen.add(text)
            kept.append(hit)
            if len(kept) == k:
                break
    return kept


def word_share(asked: set[str], passage: Passage, word_weights: Mapping[str, float]) -> float:
    """The share of the question's key words (content_words) that the passage, its headings or its
    file's name hold ("hlvf-20230930.pdf": a question may name a company by the ticker its filings
    are named by), each word weighted by word_weights (missing words weigh 1)."""
    if not asked:
        return 0.0
    name = re.sub(r"[-_.]+", " ", passage.source.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    held = asked & content_words(f"{passage.headline}\n{name}\n{passage.text}")
    total = sum(word_weights.get(w, 1.0) for w in asked)
    return sum(word_weights.get(w, 1.0) for w in held) / total if total else 0.0


def series_bonus(asked: series.Asked, hits: Iterable[Hit]) -> dict[str, float]:
    """The score each passage gains for being of the document of the period the question asks
    about, or of the newest of its series where it names none; by passage id."""
    bonus: dict[str, float] = {}
    for members in series.groups([hit.passage for hit in hits]).values():
        if asked.dates or asked.quarters or asked.years:
            for p in members:
                bonus[p.id] = SERIES_WEIGHT * asked.matches(p.dated, p.quarter)
        else:
            newest = max(p.dated for p in members)
            weight = SERIES_WEIGHT if asked.newest else NEWEST_WEIGHT
            for p in members:
                bonus[p.id] = weight if p.dated == newest else 0.0
    return bonus
