"""The only place the stages are wired together: ingest files, answer questions."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ragapp import factory
from ragapp.documents import DECLINED, EXTRACTIVE, GENERATED, Answer, Citation, Hit, Timings
from ragapp.embedder import Embedder
from ragapp.extract import Context, extract, rank_bonus, relevance
from ragapp.followup import standalone_question
from ragapp.generator import FairQueue, Generator
from ragapp.ingestion import IngestReport, Limits, Progress, ingest
from ragapp.prompts import REFUSAL, answer_grammar, build_messages, is_refusal
from ragapp.reranker import Reranker
from ragapp.retriever import retrieve
from ragapp.settings import Settings
from ragapp.store import DocumentRecord, Filter, Store
from ragapp.text import content_words
from ragapp.verify import Verdict, Verifier

if TYPE_CHECKING:
    from ragapp.accounts import Accounts
    from ragapp.history import History

# How much less relevant to the question (see ragapp/extract.py) than the best retrieved sentence
# a checked sentence of the model may be and still be shown; otherwise that best sentence is quoted
# instead. On ../shared/bench/squad2-dev (300 questions, seed 0) a margin of 0.1 let through
# restatements of passage sentences that are beside the question: 0.05 raises citation precision
# from 0.885 to 0.904 and answer containment from 0.592 to 0.608.
ON_QUESTION_MARGIN = 0.05

NO_DOCUMENTS = "There are no documents in this collection yet: upload some or run ingest."
NO_MATCH = "No documents match the filter ({}): choose other documents, folders or types."
NO_ROOM = (
    "Not even one passage fits in the model's context with room for the answer: "
    "raise RAGAPP_CONTEXT_SIZE or lower RAGAPP_MAX_ANSWER_TOKENS."
)


class Pipeline:
    """Holds the settings and the shared, lazily loaded backends; safe to share between threads."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, generator: Generator | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._generator = generator
        self._reranker: Reranker | None = None
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()
        # Every session of the app shares the one model; questions take it in turns.
        self.model_queue = FairQueue()
        self._accounts = None
        self._history = None

    # --- backends, loaded on first use ---------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = factory.make_embedder(self.settings)
            return self._embedder

    @property
    def generator(self) -> Generator:
        with self._lock:
            if self._generator is None:
                self._generator = factory.make_generator(self.settings)
            return self._generator

    @property
    def reranker(self) -> Reranker | None:
        """The configured cross-encoder (RAGAPP_RERANKER_PATH), or None."""
        with self._lock:
            if self._reranker is None and self.settings.reranker_path:
                self._reranker = factory.make_reranker(self.settings)
            return self._reranker

    @property
    def accounts(self) -> "Accounts":
        """Accounts and grants, from the app's SQLite file (RAGAPP_APP_DB)."""
        from ragapp.accounts import Accounts

        with self._lock:
            if self._accounts is None:
                self._accounts = Accounts(self.settings.app_db_path)
            return self._accounts

    @property
    def history(self) -> "History":
        """Everyone's conversations, in the same file; ragapp.workspace shows each person their own."""
        from ragapp.history import History

        with self._lock:
            if self._history is None:
                self._history = History(self.settings.app_db_path)
            return self._history

    def warm_up(self) -> None:
        """Load both models now, so the first question does not wait for them."""
        load = getattr(self.embedder, "load", None)
        if load:
            load()
        self.generator

    def store(self, collection: str | None = None) -> Store:
        name = collection or self.settings.collection
        embedder_name = self.embedder.name
        with self._lock:
            if name not in self._stores:
                self._stores[name] = factory.make_store(self.settings, name, embedder_name)
            return self._stores[name]

    # --- ingest --------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Sequence[Path],
        collection: str | None = None,
        prune: bool = False,
        reset: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
        names: dict[str, str] | None = None,
    ) -> IngestReport:
        """Add, update (and with prune, remove) the given files and folders in a collection.

        on_wait hears once that another writer holds the store, while this waits for it. names:
        the name each file (by absolute path) is known by, when not its own (uploads)."""
        return ingest(
            paths,
            self.store(collection),
            self.embedder,
            chunk_size=self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap,
            prune=prune,
            reset=reset,
            on_progress=on_progress,
            limits=self.limits,
            # The model sorts a call's texts by length before batching them: the more texts per
            # call, the less padding (squad2-dev, two runs: groups of 64 ran at 0.75-0.87x the speed of
            # one call over all passages, groups of 256 at 0.92-1.06x).
            embed_batch=8 * self.settings.embed_batch_size,
            wait_s=self.settings.write_wait_s,
            on_wait=on_wait,
            names=names,
        )

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(s.max_file_mb, s.parse_timeout_s, s.parse_memory_mb, s.parse_workers)

    def collections(self) -> list[str]:
        """The store's collections that hold files."""
        return self.store().collections()

    def documents(self, collection: str | None = None) -> list[DocumentRecord]:
        return self.store(collection).documents()

    def delete_document(self, doc_id: str, collection: str | None = None) -> int:
        """Remove a document's passages; an uploaded file (our own copy) is deleted too."""
        store = self.store(collection)
        with store.lock.hold(self.settings.write_wait_s, what="delete in the app"):
            record = store.record(doc_id)
            removed = store.remove_document(doc_id)
        if record is not None:
            path = Path(record.path)
            if path.is_relative_to(self.settings.upload_dir.resolve()):
                path.unlink(missing_ok=True)
        return removed

    # --- ask -----------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        collection: str | None = None,
        on_token: Callable[[str], None] | None = None,
        exclude_sources: Sequence[str] = (),
        only: Filter | None = None,
        follows: str | None = None,
        on_queue: Callable[[int], None] | None = None,
    ) -> Answer:
        """Answer from the collection's passages only, every sentence checked against the one it cites.

        on_token receives the answer as it is shown: each of the model's sentences once it has been
        checked, or the quoted sentences of an extractive answer. exclude_sources hides documents
        (by source path) from retrieval, as if they had not been ingested. only restricts the
        question to the documents the filter matches. follows is the previous turn's `Answer.query`
        in a conversation: a follow-up question ("and for contractors?") is searched with it.
        on_queue(n) hears, while the question waits for the model, how many are ahead of it.
        """
        started = time.perf_counter()
        timings = Timings()
        store = self.store(collection)
        store.refresh()  # another process may have written since the last question
        asked, question = question, standalone_question(question, follows)
        weights = store.word_weights(sorted(content_words(question)))
        hits = retrieve(
            question, self.embedder, store, self.settings.top_k, exclude_sources, self.settings.retrieval,
            only=only, word_weights=weights, reranker=self.reranker,
        )
        timings.retrieval_s = time.perf_counter() - started

        def finish(answer: Answer) -> Answer:
            answer.question, answer.query = asked, question
            answer.timings.total_s = time.perf_counter() - started
            return answer

        if not hits:
            if store.count() == 0:
                text = NO_DOCUMENTS
            elif only is not None and not any(only.matches(r) for r in store.documents()):
                text = NO_MATCH.format(only.describe())
            else:
                text = REFUSAL
            return finish(Answer(question, text, [], refused=True, timings=timings, path=DECLINED))
        # The relevance of what was retrieved is that of its best sentence: passages mix topics,
        # and one sentence that answers the question is what matters.
        quotes = extract(question, hits, self.embedder, word_weights=weights)
        if not quotes or quotes[0].score < self.settings.min_relevance:
            # Nothing retrieved is about the question: the model is not asked, since it would
            # answer from whatever it was shown.
            return finish(_declined(question, timings, related=hits))
        # Which sentence answers best is judged against what was asked: for a follow-up, mostly
        # its own words ("and for adoptive parents?"), not the earlier question it was searched
        # with, whose answer would otherwise win again (see extract.Context).
        focus, focus_weights, context = question, weights, None
        if question != asked:
            focus, focus_weights = asked, store.word_weights(sorted(content_words(asked)))
            context = Context(question, weights)
            quotes = extract(focus, hits, self.embedder, word_weights=focus_weights, context=context)

        with self.model_queue.turn(on_queue):
            generated = self._generate(question, hits, focus, focus_weights, context, quotes[0].score, timings, started, on_token)
        if generated is None:
            return finish(Answer(question, NO_ROOM, [], refused=True, timings=timings, path=DECLINED))
        shown, verdicts, model_declined = generated
        supported = [v for v in verdicts if v.supported]
        withheld = len(verdicts) - len(supported)
        if supported:
            text = " ".join(v.render() for v in supported)
            numbers = sorted({n for v in supported for n in v.cited})
            citations = [Citation(n, shown[n - 1].passage) for n in numbers]
            return finish(Answer(question, text, citations, False, timings, shown, GENERATED, withheld))
        quotes = [q for q in quotes if q.n <= len(shown)]
        if quotes and not model_declined:
            # Retrieval found a relevant sentence but the model's answer could not be checked:
            # quote that sentence instead.
            text = quotes[0].render()
            if on_token:
                on_token(text)
            citations = [Citation(quotes[0].n, shown[quotes[0].n - 1].passage)]
            return finish(Answer(question, text, citations, False, timings, shown, EXTRACTIVE, withheld))
        return finish(_declined(question, timings, related=shown, hits=shown, withheld=withheld))

    def _generate(self, question, hits, focus, focus_weights, context, best_relevance, timings, started, on_token):
        """The model's answer, each sentence checked as it completes: (passages shown, verdicts,
        whether the model declined), or None when not one passage fits in the context."""
        generator = self.generator
        budget = generator.context_size - self.settings.max_answer_tokens
        messages, shown = build_messages(question, hits, generator.count_tokens, budget)
        if not shown:
            return None

        verifier = Verifier(self.embedder, [h.passage.text for h in shown], self.settings.min_support)
        verdicts: list[Verdict] = []
        draft = ""
        checked_up_to = 0

        def check(text: str) -> None:
            for verdict in verifier.verify(text):
                # A sentence the passages back but that answers the question far worse than the
                # best retrieved sentence does is beside the point: withheld too.
                if verdict.supported:
                    on_question = relevance(focus, [verdict.sentence], self.embedder, focus_weights, context)[0]
                    if on_question + rank_bonus(verdict.cited[0]) < best_relevance - ON_QUESTION_MARGIN:
                        verdict = dataclasses.replace(verdict, supported=False)
                verdicts.append(verdict)
                if verdict.supported and on_token:
                    on_token(("" if sum(v.supported for v in verdicts) == 1 else " ") + verdict.render())

        grammar = answer_grammar(len(shown))
        for piece in generator.stream(messages, self.settings.max_answer_tokens, grammar):
            if timings.first_token_s is None:
                timings.first_token_s = time.perf_counter() - started
            draft += piece
            # Check each sentence as soon as its citation is complete, so answers still stream.
            for match in _CITED_SENTENCE.finditer(draft, checked_up_to):
                check(match.group())
                checked_up_to = match.end()
        rest = draft[checked_up_to:].strip()
        model_declined = is_refusal(draft)
        if rest and not model_declined:
            check(rest)
        return shown, verdicts, model_declined


# A sentence of the model's answer, up to and including its citation marker.
_CITED_SENTENCE = re.compile(r"[^\[\]]+?\s*\[\d+(?:\s*,\s*\d+)*\]")


def _declined(question: str, timings: Timings, related: list[Hit], hits: list[Hit] = (), withheld: int = 0) -> Answer:
    return Answer(question, REFUSAL, [], True, timings, list(hits), DECLINED, withheld, related=list(related))
