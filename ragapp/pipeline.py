"""The only place the stages are wired together: ingest files, answer questions."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from ragapp import factory, series
from ragapp.cpu import Snapshot, model_threads, since_last_call
from ragapp.documents import DECLINED, EXTRACTIVE, GENERATED, Answer, Citation, Hit, Timings
from ragapp.embedder import Embedder
from ragapp.compose import adds_to, compose, overview_request, summarise
from ragapp.extract import Context, Quote
from ragapp.followup import standalone_question
from ragapp.generator import Cancelled, FairQueue, Generator
from ragapp.model_server import ModelServerError
from ragapp.ingestion import IngestReport, Limits, Progress, ingest
from ragapp.lending import is_alive
from ragapp.prompts import REFUSAL, TEMPLATE_OVERHEAD_TOKENS, AnswerShape, is_refusal, passage_block, quote_messages, without_preamble
from ragapp.reranker import Reranker
from ragapp.retriever import retrieve
from ragapp.settings import Settings
from ragapp.store import DocumentRecord, Filter, Store
from ragapp.text import content_words
from ragapp.verify import Verifier

if TYPE_CHECKING:
    from ragapp.accounts import Accounts
    from ragapp.history import History
    from ragapp.keys import ApiKeys


NO_DOCUMENTS = "There are no documents in this collection yet: upload some or run ingest."
NO_MATCH = "No documents match the filter ({}): choose other documents, folders or types."


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
        self._keys = None

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
            lent_by = getattr(self._generator, "lent_by", None)
            if self._generator is None or (lent_by is not None and not is_alive(lent_by)):
                # First use; or the `ragapp serve` that lent its model has stopped: load one here.
                self._generator = factory.make_generator(self.settings)
                # A server that batches is given that many questions at once.
                self.model_queue.slots = getattr(self._generator, "parallel", 1)
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
    def keys(self) -> "ApiKeys":
        """API keys, in the same file: each acts as one person (ragapp.workspace.workspace_for_key)."""
        from ragapp.keys import ApiKeys

        with self._lock:
            if self._keys is None:
                self._keys = ApiKeys(self.settings.app_db_path)
            return self._keys

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
        if self.settings.model_sentence:
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
        prune_gone: bool = False,
    ) -> IngestReport:
        """Add, update (and with prune, remove) the given files and folders in a collection.

        on_wait hears once that another writer holds the store, while this waits for it. names:
        the name each file (by absolute path) is known by, when not its own (uploads). prune_gone:
        prune a given folder that no longer exists (ragapp.ingestion.ingest). Uploads into this
        collection left unfinished (an app killed while it stored them) are finished by the same
        ingest, under the names they were uploaded with."""
        from ragapp.uploads import clear_pending, pending_uploads

        collection = collection or self.settings.collection
        pending = pending_uploads(self.settings.upload_dir / collection)
        names = {**pending, **(names or {})}
        given = set(paths)
        paths = list(paths) + [Path(p) for p in pending if Path(p) not in given]
        report = ingest(
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
            prune_gone=prune_gone,
        )
        for outcome in report.outcomes:
            if outcome.path in names:
                clear_pending(Path(outcome.path))
        return report

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(s.max_file_mb, s.parse_timeout_s, s.parse_memory_mb, s.parse_workers,
                      ocr=s.ocr, ocr_languages=s.ocr_languages)

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
        cancelled: threading.Event | None = None,
    ) -> Answer:
        """Answer from the collection's passages only: quoted sentences first, then at most one
        sentence of the model's, shown only when the verifier finds it in the passage it cites.

        on_token receives the answer as it is shown: the quoted sentences at once, then the
        model's sentence once it has been checked. exclude_sources hides documents (by source
        path) from retrieval, as if they had not been ingested. only restricts the question to the
        documents the filter matches. follows is the previous turn's `Answer.query` in a
        conversation: a follow-up question ("and for contractors?") is searched with it.
        on_queue(n) hears, while the question waits for the model, how many are ahead of it.
        cancelled, once set (the asker has gone), stops the answer with Cancelled, whether it is
        waiting for the model or being written, and frees the model for the next question.
        """
        started = time.perf_counter()
        cpu_at_start = Snapshot.now()  # how busy others keep the machine, measured while we retrieve
        embed_threads = getattr(self._embedder, "set_threads", None)
        if embed_threads:
            embed_threads(model_threads(self.settings.threads, since_last_call()))
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
        # Every sentence is embedded once per question, however many times it is scored or checked;
        # a passage not at all: the vector it was stored with is the one the verifier compares with.
        embedder = _Memo(self.embedder)
        stored = store.vectors([h.passage.id for h in hits])
        embedder.remember({h.passage.text: stored[h.passage.id] for h in hits if h.passage.id in stored})

        def show(text: str) -> None:
            if timings.first_token_s is None:
                timings.first_token_s = time.perf_counter() - started
            if on_token:
                on_token(text)

        request = overview_request(asked)
        if request is not None:
            overview = summarise(request, hits, store, embedder, weights)
            if overview is not None:
                shown, quotes, lead = overview
                show(" ".join(q.render() for q in quotes))
                return finish(_quoted(question, quotes, shown, timings, lead=lead))
        # Which sentences answer best is judged against what was asked: for a follow-up, mostly
        # its own words ("and for adoptive parents?"), not the earlier question it was searched
        # with, whose answer would otherwise win again (see extract.Context).
        focus, focus_weights, context = question, weights, None
        if question != asked:
            focus, focus_weights = asked, store.word_weights(sorted(content_words(asked)))
            context = Context(question, weights)
        composed = compose(focus, hits, embedder, self.settings.min_relevance, focus_weights, context)
        if not composed.quotes:
            # Nothing retrieved answers the question: the model is not asked, since it would
            # answer from whatever it was shown.
            return finish(_declined(question, timings, related=hits))
        quoted = " ".join(q.render() for q in composed.quotes)
        show(quoted)
        cited = [hits[q.n - 1].passage for q in composed.quotes]
        answer = _quoted(question, composed.quotes, hits, timings, lead=_series_lead(cited, store))
        if not self.settings.model_sentence:
            return finish(answer)
        kept: list = []

        def keep(verdict) -> None:
            kept.append(verdict)
            show(" " + verdict.render())

        try:
            with self.model_queue.turn(on_queue, cancelled):
                answer.withheld = self._model_sentences(
                    focus, composed.quotes, hits, embedder, keep, cpu_at_start, cancelled
                )
        except ModelServerError as exc:
            answer.notice = f"No sentence from the model: {exc}."
        if kept:
            answer.text = " ".join([quoted, *(v.render() for v in kept)])
            numbers = sorted({q.n for q in composed.quotes}.union(*(v.cited for v in kept)))
            answer.citations = [Citation(n, hits[n - 1].passage) for n in numbers]
            answer.path = GENERATED
        return finish(answer)

    def _model_sentences(self, question, quotes, hits, embedder, keep, cpu_since=None, cancelled=None) -> int:
        """The model's sentences on the quoted sentences (a short prompt), each passed to keep() as
        soon as it is written, when the verifier finds it in a passage and it says something the
        quotes do not say as such; returns how many were withheld. Up to settings.answer_sentences
        (one for the bundled model); the model is stopped there, or at the deadline."""
        generator = self.generator
        # As set; else what a ragapp process lending its model suggests; else the default.
        limit = self.settings.model_sentences or getattr(generator, "suggested_sentences", None) or self.settings.answer_sentences
        room = generator.context_size - self.settings.max_answer_tokens * limit - 2 * TEMPLATE_OVERHEAD_TOKENS

        def cost(messages) -> int:
            return sum(generator.count_tokens(m["content"]) for m in messages)

        messages = quote_messages(question, quotes, limit)
        if cost(messages) > room:
            return 0  # no room for the model: the quoted answer stands alone
        if limit > 1:
            # A model that may write several sentences also reads the passages the quotes come
            # from, as many as its context holds, so that it can join what they say. Each passage
            # is measured once (a server's token count is a round trip).
            used, shown = cost(messages), []
            for n in dict.fromkeys(q.n for q in quotes):
                text = hits[n - 1].passage.text
                used += generator.count_tokens(passage_block(n, text))
                if used > room:
                    break
                shown.append((n, text))
            messages = quote_messages(question, quotes, limit, shown)
        passages = [h.passage.text for h in hits]
        verifier = Verifier(embedder, passages, self.settings.min_support)
        set_threads = getattr(generator, "set_threads", None)
        if set_threads:
            set_threads(model_threads(self.settings.threads, cpu_since))
        # A server is given its own timeout; the bundled model a few seconds of this machine.
        # (A model lent by `ragapp serve` on this machine is the bundled kind: a few seconds too.)
        deadline = time.perf_counter() + (self.settings.llm_timeout_s if self.settings.llm_url else self.settings.model_sentence_s)
        quoted = {q.n for q in quotes}
        draft, judged, withheld, shown = "", 0, 0, []
        pieces = iter(generator.stream(messages, self.settings.max_answer_tokens * limit, AnswerShape(len(hits), limit)))
        try:
            for piece in pieces:
                if cancelled is not None and cancelled.is_set():
                    raise Cancelled()
                draft += piece
                finished = _CITED_SENTENCE.findall(draft)
                for sentence in finished[judged:]:
                    if is_refusal(sentence):
                        continue
                    verdicts = verifier.verify(without_preamble(sentence.strip()) if judged == 0 else sentence.strip())
                    judged += 1
                    if not verdicts:
                        continue
                    verdict = verdicts[0]
                    # It must say more than the quotes, the question and the sentences before it, and
                    # from a passage the quotes come from: a sentence backed by some other passage is
                    # beside the answer being given.
                    if verdict.supported and adds_to(verdict.sentence, question, [*quotes, *shown]) and set(verdict.cited) <= quoted:
                        shown.append(Quote(verdict.sentence, verdict.cited[0], 0.0))
                        keep(verdict)
                    else:
                        withheld += 1
                judged = len(finished)
                if judged >= limit:
                    return withheld  # all that is asked for: stop the model there
                if time.perf_counter() > deadline:
                    return withheld  # the machine (or the server) is too slow: what is checked so far stands
        finally:
            # Closed here, not whenever it is collected: the model is held until its stream ends.
            close = getattr(pieces, "close", None)
            if close:
                close()
        rest = _CITED_SENTENCE.sub("", draft).strip()
        if rest and not is_refusal(rest):
            withheld += 1  # the model ended on a sentence without a citation: not shown
        return withheld


class _Memo:
    """An embedder that remembers the vectors of one question's texts."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._vectors: dict[str, list[float]] = {}
        self.name = embedder.name

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        for text, vector in zip(missing, self._embedder.embed_batch(missing)):
            self._vectors[text] = vector
        return [self._vectors[t] for t in texts]

    def remember(self, vectors: dict[str, list[float]]) -> None:
        """Vectors known already (a passage's, from the store)."""
        self._vectors.update(vectors)

    def count_tokens(self, text: str) -> int:
        return self._embedder.count_tokens(text)


# A sentence of the model's answer, up to and including its citation marker.
_CITED_SENTENCE = re.compile(r"[^\[\]]+?\s*\[\d+(?:\s*,\s*\d+)*\]")


def _series_lead(cited, store: Store) -> str:
    """The line naming the report an answer is from; the store's documents are read only when a
    cited passage is of a period at all (most answers' are not)."""
    if not any(p.dated for p in cited):
        return ""
    return series.source_line(cited, (r.source for r in store.documents()))


def _quoted(question: str, quotes, shown: list[Hit], timings: Timings, lead: str = "") -> Answer:
    text = " ".join(q.render() for q in quotes)
    numbers = sorted({q.n for q in quotes})
    citations = [Citation(n, shown[n - 1].passage) for n in numbers]
    return Answer(question, text, citations, False, timings, list(shown), EXTRACTIVE, lead=lead)


def _declined(question: str, timings: Timings, related: list[Hit], hits: list[Hit] = (), withheld: int = 0) -> Answer:
    return Answer(question, REFUSAL, [], True, timings, list(hits), DECLINED, withheld, related=list(related))
