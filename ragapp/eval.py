"""`ragapp eval`: retrieval and answer quality on a question set over a folder of documents."""

from __future__ import annotations

import hashlib
import json
import random
import re
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ragapp.embedder import choose_precision, precision_of
from ragapp.documents import DECLINED, EXTRACTIVE, GENERATED, Answer, Passage
from ragapp.ingestion import UsageError, discover
from ragapp.loaders import READER_VERSION, LoadError, load
from ragapp.pipeline import Pipeline
from ragapp.retriever import retrieve
from ragapp.settings import Settings
from ragapp.splitter import recipe
from ragapp.verify import content_supported, split_claims

RETRIEVAL_DEPTH = 10


@dataclass(frozen=True)
class Question:
    """One line of a question file; only `question` and `doc` are required."""

    question: str
    doc: str
    answerable: bool = True
    answers: tuple[str, ...] = ()
    paragraph_index: int | None = None
    id: str = ""
    # Every fact a complete answer holds, each as its accepted wordings ("45 euros"; "receipt" or
    # "receipts"), for questions of several parts, conditions and overviews.
    facts: tuple[tuple[str, ...], ...] = ()
    follows: str | None = None  # the question before it in a conversation (a follow-up)


def load_questions(path: Path) -> list[Question]:
    """Read a JSON-lines question file; a bad line is an error naming its number."""
    questions = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            questions.append(
                Question(
                    question=str(data["question"]),
                    doc=str(data["doc"]),
                    answerable=bool(data.get("answerable", True)),
                    answers=tuple(str(a) for a in data.get("answers") or ()),
                    paragraph_index=data.get("paragraph_index"),
                    id=str(data.get("id", number)),
                    facts=tuple(tuple(str(a) for a in fact) for fact in data.get("facts") or ()),
                    follows=data.get("follows"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}, line {number}: not a question ({type(exc).__name__}: {exc})") from None
    return questions


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the paragraphs after the title line (blank-line separated)."""
    body_start = text.find("\n") + 1 if text.startswith("#") else 0
    spans = []
    for match in re.finditer(r"\S(?:.*?\S)??(?=\n[ \t]*\n|\s*\Z)", text[body_start:], re.DOTALL):
        spans.append((body_start + match.start(), body_start + match.end()))
    return spans


_FOLD = re.compile(r"[^\w\s]")


def fold(text: str) -> str:
    """Lower case, punctuation removed, spaces collapsed: how answers are compared."""
    return " ".join(_FOLD.sub(" ", text.lower()).split())


def contains_answer(text: str, answers: tuple[str, ...]) -> bool:
    folded = f" {fold(text)} "
    return any(f" {fold(a)} " in folded for a in answers if fold(a))


@dataclass
class _Gold:
    """Which passages count as gold for each question."""

    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def is_gold(self, passage: Passage, question: Question) -> bool:
        if Path(passage.source).name != question.doc and passage.source != question.doc:
            return False
        if question.paragraph_index is None:
            return True
        spans = self.spans.get(question.doc, [])
        if not 0 <= question.paragraph_index < len(spans):
            return False
        start, end = spans[question.paragraph_index]
        return passage.start < end and passage.end > start


def _store_key(docs_dir: Path, settings: Settings, precision: str) -> str:
    """Same documents and chunking give the same key, so an eval store is reused."""
    digest = hashlib.sha256()
    for path, _ in discover([docs_dir]):
        digest.update(str(path).encode() + hashlib.sha256(path.read_bytes()).digest())
    # Where the vectors are, too: the same folder's manifest must not claim vectors another Chroma holds.
    place = settings.chroma_place
    digest.update(f"{recipe(settings.chunk_size, settings.chunk_overlap)}|reader-v{READER_VERSION}|{settings.embed_model}|{precision}|{place.mode}|{place.url}".encode())
    return digest.hexdigest()[:16]


def run_eval(
    qa_path: Path,
    docs_dir: Path,
    settings: Settings,
    limit: int | None = None,
    seed: int = 0,
    retrieval_only: bool = False,
    off_topic: bool = False,
    pipeline: Pipeline | None = None,
    on_question: Callable[[int, int], None] | None = None,
    store_precision: str | None = None,
) -> dict:
    """Ingest docs_dir into an eval store, ask the questions, and return the metrics.

    A file that cannot be read does not stop the run: it is listed under "failed_files" with its
    reason, and its questions are asked and scored like the others, as misses (the passages
    they need are not in the store; an answer found elsewhere does not count as containing it).

    store_precision: embed the documents at this precision (float32, bf16) and the questions at
    the settings' one, to show that a store written at one is searched at the other."""
    if not Path(docs_dir).is_dir():
        raise UsageError(f"no such folder: {docs_dir}")
    questions = load_questions(qa_path)
    if limit is not None and limit < len(questions):
        questions = random.Random(seed).sample(questions, limit)
    if not questions:
        raise UsageError(f"no questions in {qa_path}")

    writer = pipeline
    if pipeline is None:
        written_at = choose_precision(store_precision or settings.embed_precision).value
        key = _store_key(Path(docs_dir), settings, written_at)
        store_dir = Path(tempfile.gettempdir()) / "ragapp-eval" / key
        # A collection of its own: on a team's Chroma server, never one of the team's.
        pipeline = Pipeline(settings.replace(store_dir=store_dir, collection=f"eval-{key}"))
        writer = pipeline
        if store_precision:
            writer = Pipeline(pipeline.settings.replace(embed_precision=store_precision))
    report = writer.ingest([Path(docs_dir)])
    failed = {o.source: o.reason for o in report.failed}
    store = pipeline.store()

    def unread(q: Question) -> bool:
        return any(source == q.doc or Path(source).name == q.doc for source in failed)

    gold = _Gold()
    for path, root in discover([Path(docs_dir)]):
        if path.suffix.lower() in (".md", ".txt", ".markdown"):
            try:
                gold.spans[path.name] = paragraph_spans(load(path, root).pages[0].text)
            except LoadError:  # a failed file: no passage of it can be gold
                continue

    passages = [p for record in store.documents() for p in store.passages_of(record.doc_id)]
    mean_tokens = statistics.fmean(pipeline.embedder.count_tokens(p.text) for p in passages) if passages else 0.0

    results: dict = {"questions": len(questions), "store_precision": precision_of(writer.embedder),
                     "precision": precision_of(pipeline.embedder)}
    if failed:
        results["questions_on_failed_files"] = sum(1 for q in questions if unread(q))
        results["failed_files"] = [{"source": source, "reason": reason} for source, reason in failed.items()]
    answerable = [q for q in questions if q.answerable]
    ranks = []
    for q in answerable:
        hits = retrieve(q.question, pipeline.embedder, store, RETRIEVAL_DEPTH, mode=settings.retrieval)
        ranks.append(next((i for i, h in enumerate(hits, 1) if gold.is_gold(h.passage, q)), None))
    results["recall_at_1"] = _share(ranks, lambda r: r is not None and r <= 1)
    results["recall_at_5"] = _share(ranks, lambda r: r is not None and r <= 5)
    results["mrr_at_10"] = round(statistics.fmean(1 / r if r else 0.0 for r in ranks), 4) if ranks else None
    results["mean_passage_tokens"] = round(mean_tokens, 1)
    if retrieval_only:
        return results

    sources = [record.source for record in store.documents()]
    answers: list[tuple[Question, Answer]] = []
    for done, q in enumerate(questions, start=1):
        # Off-topic mode hides the question's own document, as if it had never been ingested.
        hidden = [s for s in sources if Path(s).name == q.doc or s == q.doc] if off_topic else []
        follows = pipeline.ask(q.follows, exclude_sources=hidden).query if q.follows else None
        answers.append((q, pipeline.ask(q.question, exclude_sources=hidden, follows=follows)))
        if on_question:
            on_question(done, len(questions))
    if off_topic:
        results.update(refusal_rate_off_topic=_share(answers, lambda qa: qa[1].refused), **_common(answers, pipeline))
        return results

    answered = [(q, a) for q, a in answers if not a.refused]
    with_answers = [(q, a) for q, a in answers if q.answerable and q.answers]
    # A question with accepted answers but no list of facts asks for one fact: one of those answers.
    with_facts = [(q, a) for q, a in answers if q.answerable and (q.facts or q.answers)]
    citations = [(q, c) for q, a in answered for c in a.citations]
    shown = uncited = unsupported = 0
    for _, a in answered:
        passages = {h_n: h.passage.text for h_n, h in enumerate(a.hits, start=1)}
        for sentence, cited in split_claims(a.text):
            shown += 1
            uncited += not cited
            evidence = " ".join(passages.get(n, "") for n in cited)
            unsupported += not cited or not content_supported(sentence, evidence)
    drafted = shown_generated = 0
    for _, a in answers:
        drafted += a.withheld
        if a.path == GENERATED:
            shown_generated += len(split_claims(a.text))
    drafted += shown_generated
    results.update(
        answer_containment=_share(
            with_answers, lambda qa: not qa[1].refused and not unread(qa[0]) and contains_answer(qa[1].text, qa[0].answers)
        ),
        facts_complete=_share(
            with_facts,
            lambda qa: not qa[1].refused and not unread(qa[0])
            and all(contains_answer(qa[1].text, f) for f in qa[0].facts or (qa[0].answers,)),
        ),
        citation_precision=_share(citations, lambda qc: gold.is_gold(qc[1].passage, qc[0])),
        refusal_rate_unanswerable=_share([a for q, a in answers if not q.answerable], lambda a: a.refused),
        false_refusal_rate=_share([a for q, a in answers if q.answerable], lambda a: a.refused),
        unsupported_sentence_rate=round(unsupported / shown, 4) if shown else None,
        uncited_sentences=uncited,
        withheld_sentence_rate=round((drafted - shown_generated) / drafted, 4) if drafted else None,
        **_common(answers, pipeline),
    )
    return results


def _common(answers: list[tuple[Question, Answer]], pipeline: Pipeline) -> dict:
    """Which path produced the answers, latency and the model: reported in every mode."""
    latencies = [a.timings.total_s for _, a in answers]
    first = [a.timings.first_token_s for _, a in answers if a.timings.first_token_s is not None]
    return dict(
        first_text_p50_s=round(statistics.median(first), 3) if first else None,
        path_generated=_share(answers, lambda qa: qa[1].path == GENERATED),
        path_extractive=_share(answers, lambda qa: qa[1].path == EXTRACTIVE),
        path_declined=_share(answers, lambda qa: qa[1].path == DECLINED),
        latency_p50_s=round(statistics.median(latencies), 3),
        latency_p95_s=round(sorted(latencies)[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))], 3),
        model=pipeline.generator.name,
    )


def _share(items, predicate) -> float | None:
    items = list(items)
    return round(sum(1 for i in items if predicate(i)) / len(items), 4) if items else None


KEY_ORDER = (
    "questions", "questions_on_failed_files", "store_precision", "precision", "recall_at_1", "recall_at_5", "mrr_at_10", "answer_containment", "facts_complete", "citation_precision",
    "refusal_rate_unanswerable", "false_refusal_rate", "refusal_rate_off_topic", "unsupported_sentence_rate",
    "uncited_sentences", "withheld_sentence_rate", "path_generated", "path_extractive", "path_declined",
    "first_text_p50_s", "latency_p50_s", "latency_p95_s", "mean_passage_tokens", "model",
)


def format_table(results: dict) -> str:
    rows = [(k, results[k]) for k in KEY_ORDER if k in results]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {'-' if v is None else v}" for k, v in rows]
    failed = results.get("failed_files") or []
    if failed:
        lines.append(f"failed files ({len(failed)}; their questions count as misses):")
        lines.extend(f"  {f['source']}: {f['reason']}" for f in failed)
    return "\n".join(lines)
