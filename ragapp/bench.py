"""`ragapp bench PATH`: ingest, retrieval and generation speed, each beside its bare baseline."""

from __future__ import annotations

import importlib
import math
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Sequence, TextIO

from ragapp.documents import Document, Page, Passage, content_hash, passage_id
from ragapp.embedder import Embedder, precision_of
from ragapp.factory import make_embedder
from ragapp.ingestion import ADDED, FAILED, SKIPPED, discover
from ragapp.models import resolve_llm
from ragapp.pipeline import Pipeline
from ragapp.prompts import AnswerShape, build_messages
from ragapp.retriever import retrieve
from ragapp.settings import Settings
from ragapp.splitter import split_sentences
from ragapp.store import EMBEDDED, StoreError
from ragapp.store.chroma import stop_local_server


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _raw_embedding_rate(embedder: Embedder, texts: list[str]) -> float:
    """Passages/s of the model alone: every text in one call, so the model batches them its own
    best way (sorted by length, one batch after another)."""
    started = time.perf_counter()
    embedder.embed_batch(texts)
    return len(texts) / (time.perf_counter() - started)


def run_bench(
    path: Path,
    settings: Settings,
    queries: int = 50,
    generations: int = 3,
    out: TextIO | None = None,
    scales: Sequence[int] = (),
    rounds: int = 3,
    hostile: int = 0,
    answers: Path | None = None,
    load_docs: Path | None = None,
    api: Path | None = None,
) -> dict:
    """Measure on the documents under path, in a temporary store; print and return the numbers.

    rounds: ingest and raw embedding are each timed this many times, alternately.
    scales: also time retrieval over stores of this many generated passages (see _bench_scale).
    hostile: also ingest a folder of this many PDFs made from the ones under path, most of them
    broken on purpose (see _bench_hostile).
    answers: also time whole answers to the questions of this file, idle and under load (see
    _bench_answers); load_docs is the folder another process ingests meanwhile.
    api: also time answers to the questions of this file through `ragapp serve` (see _bench_api).
    """

    def say(line: str) -> None:
        if out:
            print(line, file=out, flush=True)

    results: dict = {"machine": {"cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory(prefix="ragapp-bench-") as tmp:
        embedders = _embedders(settings)
        for embedder in embedders.values():
            embedder.embed_batch(["warm up the embedding model"])

        scratch = _Scratch(settings, Path(tmp), embedders)
        try:
            _bench_all(path, scratch, results, queries, generations, scales, rounds, hostile, say)
            if answers:
                results["answers"] = _bench_answers(scratch, answers, load_docs, say)
            if api:
                results["api"] = _bench_api(scratch, api, say)
        finally:
            scratch.remove()
    return results


FLOAT32 = "float32"
ANSWER_EMBEDDING_QUESTIONS = 20  # answers timed for the embedding part, each at every precision
BEFORE = "float32_before"  # float32, the retrieved passages embedded again by each answer (until this version)


def _embedders(settings: Settings) -> dict[str, Embedder]:
    """The embedder in force, and a float32 one beside it when the one in force is not."""
    in_force = make_embedder(settings)
    precision = precision_of(in_force) or FLOAT32
    embedders = {precision: in_force}
    if precision != FLOAT32:
        embedders[FLOAT32] = make_embedder(settings.replace(embed_precision=FLOAT32))
    return embedders


class _Scratch:
    """The bench's own collections: in one temporary store folder (so one local Chroma server), and
    on a team's Chroma server under names of this run alone; all removed at the end."""

    def __init__(self, settings: Settings, tmp: Path, embedders: dict[str, Embedder]) -> None:
        self.settings = settings.replace(store_dir=tmp / "store")
        self.run = uuid.uuid4().hex[:8]
        self.embedders = embedders  # by precision, the one in force first
        self.embedder = next(iter(embedders.values()))
        self.tmp = tmp
        self.pipelines: list[Pipeline] = []

    def pipeline(self, name: str, chroma: str | None = None, embedder: Embedder | None = None) -> Pipeline:
        settings = self.settings.replace(collection=f"bench-{self.run}-{name}")
        if chroma == EMBEDDED:  # its own folder: an embedded Chroma must be alone with its store
            settings = settings.replace(store_dir=self.tmp / name, chroma=EMBEDDED, chroma_url="")
        made = Pipeline(settings, embedder=embedder or self.embedder)
        self.pipelines.append(made)
        return made

    def remove(self) -> None:
        for made in self.pipelines:
            try:
                store = made.store()
                with store.lock.hold(self.settings.write_wait_s, what="bench clean-up"):
                    store.reset()
            except StoreError:
                pass  # a server that has gone: nothing of ours is left to remove there
        stop_local_server(self.settings.store_dir)


def _bench_all(path: Path, scratch: "_Scratch", results: dict, queries, generations, scales, rounds, hostile, say) -> None:
    settings, embedder = scratch.settings, scratch.embedder
    results["ingest"], passages = _bench_ingest(path, scratch, rounds, say)
    pdf_readers = _bench_pdf_readers(path, rounds, say)
    if pdf_readers:
        results["pdf_readers"] = pdf_readers
    # The retrieval timings below search the store of the first ingest round.
    pipeline = scratch.pipelines[0]
    store = pipeline.store()
    if not passages:
        say("no passages: nothing more to measure")
        return

    rng = random.Random(0)
    questions = [_question_from(rng.choice(passages).text) for _ in range(queries)]
    latencies = []
    for question in questions:
        started = time.perf_counter()
        retrieve(question, embedder, store, settings.top_k, mode=settings.retrieval, reranker=pipeline.reranker)
        latencies.append((time.perf_counter() - started) * 1000)
    results["retrieval"] = {
        "mode": settings.retrieval,
        "reranker": pipeline.reranker.name if pipeline.reranker else None,
        "queries": len(latencies),
        "passages_in_store": store.count(),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(_percentile(latencies, 0.95), 2),
    }
    say(f"retrieval ({settings.retrieval}{', reranked' if pipeline.reranker else ''}) over {store.count()} passages: p50 {results['retrieval']['p50_ms']} ms, p95 {results['retrieval']['p95_ms']} ms")

    results["answer_embedding"] = _bench_answer_embedding(scratch, pipeline, questions[:ANSWER_EMBEDDING_QUESTIONS], say)
    if hostile:
        results["hostile"] = _bench_hostile(path, hostile, scratch, say)
    if scales:
        results["retrieval_at_scale"] = _bench_scale(pipeline, passages, questions, scales, scratch, say)
    if generations > 0:
        bench = _bench_server_generation if settings.llm_url else _bench_generation
        results["generation"] = bench(pipeline, questions[0], generations, say)


def _bench_ingest(path: Path, scratch: _Scratch, rounds: int, say) -> tuple[dict, list]:
    """Ingest throughput beside the raw embedding throughput of the same passages, measured in
    alternating rounds (the machine's load drifts); and an unchanged re-run against the first.
    Where the embedder in force is not float32, a float32 embedder is measured the same way in
    the same rounds, and the speed-up is the median of the rounds' ratios."""
    embedders = scratch.embedders
    say(
        f"ingest {path} ({rounds} rounds, each beside a raw embedding of the same passages; "
        f"precision {' and '.join(embedders)}) …"
    )
    measured = {precision: {"ingest": [], "raw": [], "fractions": []} for precision in embedders}
    passages: list = []
    report = None
    for round_number in range(max(1, rounds)):
        order = list(embedders) if round_number % 2 == 0 else list(reversed(embedders))
        for precision in order:
            embedder, rates = embedders[precision], measured[precision]
            pipeline = scratch.pipeline(f"ingest-{precision}-{round_number}", embedder=embedder)

            def timed_ingest():
                first = pipeline.ingest([path])
                rerun = pipeline.ingest([path])
                rates["ingest"].append(first.passages / first.seconds if first.seconds else 0.0)
                rates["fractions"].append(rerun.seconds / first.seconds if first.seconds else 0.0)
                return first

            def timed_raw():
                rates["raw"].append(_raw_embedding_rate(embedder, [p.text for p in passages]))

            if round_number % 2 == 0 or not passages:
                report = timed_ingest()
                if not passages:
                    store = pipeline.store()
                    passages = [p for record in store.documents() for p in store.passages_of(record.doc_id)]
                timed_raw()
            else:
                timed_raw()
                report = timed_ingest()
            say(
                f"  round {round_number + 1}, {precision}: ingest {rates['ingest'][-1]:.1f} passages/s, raw embedding "
                f"{rates['raw'][-1]:.1f} passages/s (ratio {rates['ingest'][-1] / rates['raw'][-1] if rates['raw'][-1] else 0.0:.2f}), re-run "
                f"{rates['fractions'][-1]:.2%} of the first"
            )
    by_precision = {}
    for precision, rates in measured.items():
        # Each round's two measurements sit side by side in time, so their ratio is spared most of
        # the machine's drift; the median of those ratios is the figure to compare with a target.
        ratios = [i / r for i, r in zip(rates["ingest"], rates["raw"]) if r]
        by_precision[precision] = {
            "passages_per_s": round(statistics.median(rates["ingest"]), 2),
            "raw_embedding_passages_per_s": round(statistics.median(rates["raw"]), 2),
            "ratio_to_raw_embedding": round(statistics.median(ratios), 3) if ratios else None,
            "ratios_by_round": [round(r, 3) for r in ratios],
            "rerun_fraction_of_first": round(statistics.median(rates["fractions"]), 4),
        }
        say(
            f"ingest ({precision}): {len(passages)} passages, median {by_precision[precision]['passages_per_s']} passages/s; "
            f"raw embedding of the same passages {by_precision[precision]['raw_embedding_passages_per_s']} passages/s; "
            f"ingest/raw median of the rounds' ratios {by_precision[precision]['ratio_to_raw_embedding']}; unchanged "
            f"re-run {by_precision[precision]['rerun_fraction_of_first']:.2%} of the first run"
        )
    in_force = next(iter(embedders))
    results = {
        "files": len(report.outcomes) if report else 0,
        "passages": len(passages),
        "rounds": max(1, rounds),
        "precision": in_force,
        **by_precision[in_force],
        "by_precision": by_precision,
        "peak_rss_mb": _peak_rss_mb(),
    }
    if FLOAT32 in measured and in_force != FLOAT32:
        speedups = [a / b for a, b in zip(measured[in_force]["ingest"], measured[FLOAT32]["ingest"]) if b]
        results["speedup_vs_float32"] = round(statistics.median(speedups), 2)
        say(f"ingest {in_force} / float32, median of the rounds' ratios: {results['speedup_vs_float32']}x")
    return results, passages


def _bench_pdf_readers(path: Path, rounds: int, say) -> dict | None:
    """The PDF text readers side by side: every PDF under path read by PDFium (the reader now) and
    by pypdf (the reader before it, now the fallback), in this process, in alternating rounds (the
    machine's load drifts); pages/s, characters, and the files each refused and why. OCR is off
    meanwhile, so that both read text layers only. None when path holds no PDFs."""
    from ragapp import loaders

    pdfs = {file.relative_to(root).as_posix(): file for file, root in discover([path]) if file.suffix.lower() in loaders.PDF_SUFFIXES}
    if not pdfs:
        return None
    readers = {
        "pdfium": loaders._read_pdf_with_pdfium,
        "pypdf": lambda pdf: loaders._read_pdf_with_pypdf(pdf, pdfium_failure="pypdf alone"),
    }

    def refusal(exc: Exception) -> tuple[str, str]:
        """(kind, reason) of a refusal: the library's own exception where the loader made a reason of it."""
        # The loaders raise their reasons "from None": what the library raised is still the context.
        # A reason of its own ("password-protected PDF") stays; "damaged PDF" is told by what was raised.
        cause = exc.__context__
        if isinstance(exc, loaders.LoadError) and str(exc).startswith("damaged PDF") and cause is not None \
                and not isinstance(cause, loaders.LoadError):
            exc = cause
        if isinstance(exc, (loaders.LoadError, loaders._PdfiumFailed)):  # "PDFium: Data format error"
            return str(exc).split(" (")[0], str(exc)
        return type(exc).__name__, f"{type(exc).__name__}: {exc}"

    for module in ("pypdf", "pypdfium2"):  # imported before the clock starts
        importlib.import_module(module)

    say(f"PDF readers: {len(pdfs)} PDFs under {path}, each read by PDFium and by pypdf ({max(1, rounds)} rounds, OCR off) …")
    measured = {name: {"rates": [], "seconds": [], "file_s": []} for name in readers}
    read: dict[str, dict] = {}
    refused: dict[str, dict[str, tuple[str, str]]] = {}
    ocr_before = os.environ.get("RAGAPP_OCR")
    os.environ["RAGAPP_OCR"] = "0"
    try:
        for round_number in range(max(1, rounds)):
            for name in readers if round_number % 2 == 0 else reversed(readers):
                pages = characters = 0
                refused_now: dict[str, tuple[str, str]] = {}
                file_s: dict[str, float] = {}
                started = time.perf_counter()
                for source, pdf in pdfs.items():
                    at = time.perf_counter()
                    try:
                        _, got = readers[name](pdf)
                    except Exception as exc:  # a refusal is a result here, whatever the reader raised
                        refused_now[source] = refusal(exc)
                        continue
                    file_s[source] = time.perf_counter() - at
                    pages += len(got)
                    characters += sum(len(page.text) for page in got)
                seconds = time.perf_counter() - started
                measured[name]["rates"].append(pages / seconds if seconds else 0.0)
                measured[name]["seconds"].append(seconds)
                measured[name]["file_s"].append(file_s)
                read[name], refused[name] = {"files": len(file_s), "pages": pages, "characters": characters}, refused_now
                say(f"  round {round_number + 1}, {name}: {pages} pages in {seconds:.2f} s, {measured[name]['rates'][-1]:.1f} pages/s")
    finally:
        if ocr_before is None:
            os.environ.pop("RAGAPP_OCR", None)
        else:
            os.environ["RAGAPP_OCR"] = ocr_before
    results: dict = {"files": len(pdfs), "rounds": max(1, rounds), "ocr": False}
    for name in readers:
        reasons: dict[str, int] = {}
        for kind, _ in refused[name].values():  # "LimitReachedError", "PDFium: Data format error"
            reasons[kind] = reasons.get(kind, 0) + 1
        results[name] = {
            **read[name],
            "pages_per_s": round(statistics.median(measured[name]["rates"]), 1),
            "seconds_median": round(statistics.median(measured[name]["seconds"]), 3),
            "refused": len(refused[name]),
            "refused_by": reasons,
            "refused_files": {source: reason[:300] for source, (_, reason) in refused[name].items()},
        }
    # Each round's two readings sit side by side in time: the median of their ratios is the figure.
    ratios = [a / b for a, b in zip(measured["pdfium"]["rates"], measured["pypdf"]["rates"]) if b]
    results["pages_per_s_ratio"] = round(statistics.median(ratios), 2) if ratios else None
    # The same work on both sides: the files both read, pypdf's seconds over PDFium's.
    both = set(measured["pdfium"]["file_s"][0]) & set(measured["pypdf"]["file_s"][0])
    speedups = [
        sum(p[f] for f in both) / sum(d[f] for f in both)
        for d, p in zip(measured["pdfium"]["file_s"], measured["pypdf"]["file_s"])
        if both and sum(d[f] for f in both)
    ]
    results["both_read"] = {"files": len(both), "speedup": round(statistics.median(speedups), 2) if speedups else None}
    for name, label in (("pdfium", "PDFium"), ("pypdf", "pypdf")):
        r = results[name]
        refusals = ", ".join(f"{count} {kind}" for kind, count in r["refused_by"].items()) or "none"
        say(
            f"PDF reader {label}: {r['files']} files, {r['pages']} pages, {r['characters']} characters, "
            f"median {r['pages_per_s']} pages/s; refused {r['refused']} ({refusals})"
        )
    say(
        f"PDF readers: PDFium / pypdf pages/s, median of the rounds' ratios {results['pages_per_s_ratio']}x; "
        f"on the {len(both)} files both read, PDFium {results['both_read']['speedup']}x as fast"
    )
    return results


class _TimedEmbedder:
    """An embedder that adds up the time spent in it (the embedding part of an answer)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.name, self.seconds = inner, inner.name, 0.0

    def embed_batch(self, texts):
        started = time.perf_counter()
        try:
            return self.inner.embed_batch(texts)
        finally:
            self.seconds += time.perf_counter() - started

    def __getattr__(self, name):  # count_tokens, set_threads, precision: the inner embedder's
        return getattr(self.inner, name)


def _bench_answer_embedding(scratch: _Scratch, store_pipeline: Pipeline, questions: list[str], say) -> dict:
    """Milliseconds each answer spends embedding (the question, the retrieved passages' sentences,
    the check of the model's sentence) at each precision: the same questions asked alternately of
    the same store with one shared model. "before" is float32 plus what answers did until the
    passages' stored vectors were reused: embedding the retrieved passages whole, as one batch."""
    generator = store_pipeline.generator if store_pipeline.settings.model_sentence else None
    timed = {precision: _TimedEmbedder(e) for precision, e in scratch.embedders.items()}
    pipelines = {
        precision: Pipeline(store_pipeline.settings, embedder=embedder, generator=generator)
        for precision, embedder in timed.items()
    }
    seconds: dict[str, list[float]] = {precision: [] for precision in timed}
    seconds[BEFORE] = []
    for number, question in enumerate(questions):
        order = list(timed) if number % 2 == 0 else list(reversed(timed))
        for precision in order:
            timed[precision].seconds = 0.0
            answer = pipelines[precision].ask(question)
            seconds[precision].append(timed[precision].seconds)
            if precision == FLOAT32:
                timed[precision].embed_batch([h.passage.text for h in answer.hits])
                seconds[BEFORE].append(timed[precision].seconds)
    results: dict = {"answers": len(questions)}
    for name, values in seconds.items():
        results[name] = {"p50_ms": round(statistics.median(values) * 1000, 1), "mean_ms": round(statistics.fmean(values) * 1000, 1)}
    line = ", ".join(f"{name} p50 {results[name]['p50_ms']} ms" for name in seconds)
    line = line.replace(BEFORE, "float32 with the passages embedded again (before)")
    in_force = next(iter(timed))
    if in_force != FLOAT32:
        for against in (FLOAT32, BEFORE):
            ratios = [a / b for a, b in zip(seconds[against], seconds[in_force]) if b]
            results[f"speedup_vs_{against}"] = round(statistics.median(ratios), 2)
        line += (
            f"; {in_force} is {results['speedup_vs_float32']}x as fast as float32 and "
            f"{results['speedup_vs_float32_before']}x as fast as before (medians of the answers' ratios)"
        )
    say(f"embedding part of an answer ({len(questions)} answers, each asked at each precision): {line}")
    return results


def _peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB (the workers' own is capped by their limit)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports kilobytes


MUTATIONS = ("intact", "truncated", "bytes-flipped", "span-zeroed", "spans-swapped", "no-header", "garbage-appended", "random-bytes", "empty")


def make_hostile_pdfs(originals: Sequence[Path], count: int, folder: Path, seed: int = 7) -> Path:
    """Write `count` PDFs made from the originals into folder, one mutation each in turn (see
    MUTATIONS): the ways real files arrive broken, plus random bytes and empty files."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for number in range(count):
        original = rng.choice(list(originals))
        mutation = MUTATIONS[number % len(MUTATIONS)]
        data = bytearray(original.read_bytes())
        if mutation == "truncated":
            data = data[: rng.randrange(1, len(data))]
        elif mutation == "bytes-flipped":
            for _ in range(rng.randint(1, 64)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif mutation == "span-zeroed":
            at, size = rng.randrange(len(data)), rng.randint(16, 65536)
            data[at : at + size] = bytes(len(data[at : at + size]))
        elif mutation == "spans-swapped":
            a, b = sorted(rng.randrange(len(data)) for _ in range(2))
            size = min(rng.randint(16, 4096), b - a)
            data[a : a + size], data[b : b + size] = data[b : b + size], data[a : a + size]
        elif mutation == "no-header":
            data = data[rng.randint(1, 1024) :]
        elif mutation == "garbage-appended":
            data += rng.randbytes(rng.randint(1, 100_000))
        elif mutation == "random-bytes":
            data = bytearray(rng.randbytes(rng.randint(1, 200_000)))
        elif mutation == "empty":
            data = bytearray()
        (folder / f"{number:04d}-{mutation}-{original.name}").write_bytes(bytes(data))
    return folder


def _bench_hostile(path: Path, count: int, scratch: _Scratch, say) -> dict:
    """Ingest `count` PDFs made from those under path: intact copies and copies broken in the
    ways real files break (cut short, bytes flipped or zeroed, spans swapped, header lost, junk
    appended), plus random bytes and empty files named .pdf. Every file must get an outcome;
    the ingest must not crash or hang; the main process's memory is what matters."""
    originals = sorted(p for p in path.rglob("*.pdf") if p.is_file())
    if not originals:
        say(f"hostile: no PDFs under {path} to make broken copies of")
        return {}
    folder = make_hostile_pdfs(originals, count, scratch.tmp / "hostile")
    say(f"hostile: ingest {count} PDFs made from the {len(originals)} under {path} …")
    hostile = scratch.pipeline("hostile")
    report = hostile.ingest([folder])
    statuses = {status: report.count(status) for status in (ADDED, FAILED, SKIPPED) if report.count(status)}
    reasons: dict[str, int] = {}
    for outcome in report.failed:
        kind = outcome.reason.split(" (")[0].split(":")[0]
        reasons[kind] = reasons.get(kind, 0) + 1
    results = {
        "files": count,
        "outcomes": len(report.outcomes),
        "every_file_accounted_for": sorted(o.source for o in report.outcomes) == sorted(p.name for p in folder.iterdir()),
        "statuses": statuses,
        "failure_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "passages": report.passages,
        "seconds": round(report.seconds, 1),
        "main_peak_rss_mb": _peak_rss_mb(),
    }
    say(
        f"hostile: {len(report.outcomes)} outcomes for {count} files ({statuses}), {report.passages} passages, "
        f"{report.seconds:.0f} s; peak memory of this process (embedding model included) {results['main_peak_rss_mb']} MB"
    )
    say(f"hostile: failure reasons {results['failure_reasons']}")
    return results


GENERATED_PER_DOCUMENT = 500


def _bench_scale(pipeline: Pipeline, passages: list, questions: list[str], scales: Sequence[int], scratch: _Scratch, say) -> list[dict]:
    """Retrieval latency over stores of N generated passages, for each N in scales.

    Embedding 100,000 passages would take over an hour here, so the passages are generated from
    the real ones: each joins 2-4 sentences of random real passages, and its vector is the mean of
    theirs plus noise, normalised. Texts keep real word statistics (BM25 posting lists grow with
    N) and vectors stay clustered like real ones. The questions, their embedding and the whole
    hybrid search are real; one store is grown from the smallest size to the largest.
    """
    settings = pipeline.settings
    rng = random.Random(1)
    targets = {settings.chroma_place.mode: scratch.pipeline("scaled").store()}
    if settings.chroma_place.mode != EMBEDDED:
        # The same store with Chroma inside this process, grown and searched side by side with it.
        targets[EMBEDDED] = scratch.pipeline("scaled-embedded", chroma=EMBEDDED).store()
    vectors = pipeline.store().vectors([p.id for p in passages])
    sentences = [(p.id, s) for p in passages for s in split_sentences(p.text) if len(s.split()) >= 4]
    dim = len(next(iter(vectors.values())))
    results: list[dict] = []
    made = 0
    for size in sorted(scales):
        started = time.perf_counter()
        while made < size:
            count = min(GENERATED_PER_DOCUMENT, size - made)
            document, generated, generated_vectors = _generated_document(made, count, sentences, vectors, dim, rng)
            for target in targets.values():
                target.replace_document(document, generated, generated_vectors)
            made += count
        build_s = time.perf_counter() - started
        latencies: dict[str, list[float]] = {mode: [] for mode in targets}
        for question in questions:
            for mode, target in targets.items():  # alternating, so both see the same machine
                started = time.perf_counter()
                retrieve(question, pipeline.embedder, target, settings.top_k, mode=settings.retrieval, reranker=pipeline.reranker)
                latencies[mode].append((time.perf_counter() - started) * 1000)
        first = next(iter(targets))
        row = {
            "passages": targets[first].count(),
            "chroma": first,
            "queries": len(questions),
            "p50_ms": round(statistics.median(latencies[first]), 2),
            "p95_ms": round(_percentile(latencies[first], 0.95), 2),
            "added_in_s": round(build_s, 1),
        }
        line = f"retrieval over {row['passages']} generated passages ({first}): p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms"
        if EMBEDDED in latencies and first != EMBEDDED:
            row["embedded_p50_ms"] = round(statistics.median(latencies[EMBEDDED]), 2)
            row["embedded_p95_ms"] = round(_percentile(latencies[EMBEDDED], 0.95), 2)
            row["p50_vs_embedded"] = round(row["p50_ms"] / row["embedded_p50_ms"], 2) if row["embedded_p50_ms"] else None
            line += (
                f"; embedded, side by side: p50 {row['embedded_p50_ms']} ms, p95 {row['embedded_p95_ms']} ms "
                f"(p50 {row['p50_vs_embedded']}x embedded)"
            )
        results.append(row)
        say(line)
    if len(results) > 1 and results[0]["p50_ms"]:
        say(
            f"p50 grows {results[-1]['p50_ms'] / results[0]['p50_ms']:.2f}x from {results[0]['passages']} "
            f"to {results[-1]['passages']} passages"
        )
    return results


def _generated_document(number: int, count: int, sentences: list, vectors: dict, dim: int, rng: random.Random):
    """One generated document of `count` passages (see _bench_scale), with their vectors."""
    source = f"generated/doc-{number // GENERATED_PER_DOCUMENT:05d}.md"
    path = f"/generated/{source}"
    texts, generated_vectors = [], []
    for _ in range(count):
        picked = [rng.choice(sentences) for _ in range(rng.randint(2, 4))]
        texts.append(" ".join(sentence for _, sentence in picked))
        mean = [sum(vectors[pid][i] for pid, _ in picked) / len(picked) + rng.gauss(0, 0.02) for i in range(dim)]
        norm = math.sqrt(sum(x * x for x in mean)) or 1.0
        generated_vectors.append([x / norm for x in mean])
    body = "\n\n".join(texts)
    digest = content_hash(body.encode())
    document = Document(path, source, f"Generated {number}", "markdown", digest, (Page(None, body),))
    generated, at = [], 0
    for index, text in enumerate(texts):
        start = body.index(text, at)
        at = start + len(text)
        generated.append(
            Passage(
                id=passage_id(document.doc_id, digest, None, start, text), doc_id=document.doc_id, text=text,
                source=source, path=path, title=document.title, page=None, start=start, end=at,
                content_hash=digest, index=index,
            )
        )
    return document, generated, generated_vectors


def _question_from(text: str) -> str:
    words = text.split()
    return " ".join(words[: min(12, len(words))])


def _bench_generation(pipeline: Pipeline, question: str, runs: int, say) -> dict:
    from llama_cpp import Llama, LlamaGrammar

    settings = pipeline.settings
    generator = pipeline.generator
    hits = retrieve(question, pipeline.embedder, pipeline.store(), settings.top_k, mode=settings.retrieval)
    messages, shown = build_messages(question, hits, generator.count_tokens, generator.context_size - settings.max_answer_tokens)
    # Both sides get the same prompt and the same answer grammar, so they do the same work.
    shape = AnswerShape(len(shown), max_sentences=2)
    bare_grammar = LlamaGrammar.from_string(shape.grammar, verbose=False)
    bare = Llama(
        model_path=str(resolve_llm(settings.model_path)),
        n_ctx=settings.context_size,
        n_threads=settings.threads or os.cpu_count() or 1,
        n_gpu_layers=settings.gpu_layers,
        seed=0,
        verbose=False,
    )

    def ours():
        return generator.stream(messages, settings.max_answer_tokens, shape)

    def baseline():
        chunks = bare.create_chat_completion(
            messages=messages,
            stream=True,
            temperature=settings.temperature,
            max_tokens=settings.max_answer_tokens,
            grammar=bare_grammar,
        )
        return (c["choices"][0]["delta"].get("content") or "" for c in chunks)

    measured: dict[str, list[tuple[float, float]]] = {"ragapp": [], "bare": []}
    # Alternate the two so that noise on this shared machine falls on both alike; clear each KV
    # cache first so neither reuses the previous run's prompt.
    for _ in range(runs):
        for name, run, reset in (("ragapp", ours, generator.reset_cache), ("bare", baseline, bare.reset)):
            reset()
            started = time.perf_counter()
            first = None
            pieces = []
            for piece in run():
                if first is None and piece:
                    first = time.perf_counter() - started
                pieces.append(piece)
            total = time.perf_counter() - started
            tokens = generator.count_tokens("".join(pieces))
            rate = (tokens - 1) / (total - first) if first is not None and total > first and tokens > 1 else 0.0
            measured[name].append((first or total, rate))
    prompt_tokens = sum(generator.count_tokens(m["content"]) for m in messages)
    result = {"prompt_tokens": prompt_tokens, "runs": runs}
    for name, values in measured.items():
        result[name] = {
            "first_token_s_median": round(statistics.median(v[0] for v in values), 3),
            "tokens_per_s_median": round(statistics.median(v[1] for v in values), 1),
        }
    say(
        f"generation ({prompt_tokens}-token prompt, median of {runs}): "
        f"ragapp first token {result['ragapp']['first_token_s_median']} s, {result['ragapp']['tokens_per_s_median']} tokens/s; "
        f"bare llama-cpp-python {result['bare']['first_token_s_median']} s, {result['bare']['tokens_per_s_median']} tokens/s"
    )
    return result


def _timed_stream(start) -> tuple[float, float]:
    """(seconds to the first piece, pieces per second after it) of the stream start() returns,
    timed from the call (the OpenAI client sends its request there, ragapp's stream on its first
    piece): one piece is one token for the OpenAI chat stream of every server measured here."""
    started = time.perf_counter()
    first, count = None, 0
    for piece in start():
        if piece:
            count += 1
            if first is None:
                first = time.perf_counter() - started
    total = time.perf_counter() - started
    rate = (count - 1) / (total - first) if first is not None and total > first and count > 1 else 0.0
    return first or total, rate


def _bench_server_generation(pipeline: Pipeline, question: str, runs: int, say) -> dict:
    """Time to first token and tokens/s through ragapp beside the official OpenAI client asking the
    same server the same thing (prompt, answer shape, sampling), alternating the two."""
    from openai import OpenAI

    settings = pipeline.settings
    generator = pipeline.generator
    info = generator.info()
    hits = retrieve(question, pipeline.embedder, pipeline.store(), settings.top_k, mode=settings.retrieval)
    messages, shown = build_messages(question, hits, generator.count_tokens, generator.context_size - settings.max_answer_tokens)
    shape = AnswerShape(len(shown), max_sentences=2)
    body = generator.body(messages, settings.max_answer_tokens, shape, info)
    standard = {"model", "messages", "max_tokens", "temperature", "stream"}
    client = OpenAI(base_url=info.url, api_key=settings.llm_api_key or "none", max_retries=0, timeout=settings.llm_timeout_s)

    def ours():
        return generator.stream(messages, settings.max_answer_tokens, shape)

    def baseline():
        chunks = client.chat.completions.create(
            model=info.model, messages=messages, max_tokens=settings.max_answer_tokens,
            temperature=settings.temperature, stream=True, extra_body={k: v for k, v in body.items() if k not in standard},
        )
        return ((c.choices[0].delta.content or "") if c.choices else "" for c in chunks)

    measured: dict[str, list[tuple[float, float]]] = {"ragapp": [], "openai_client": []}
    for _ in range(runs):
        for name, run in (("ragapp", ours), ("openai_client", baseline)):
            measured[name].append(_timed_stream(run))
    result: dict = {"server": info.describe(), "runs": runs}
    for name, values in measured.items():
        result[name] = {
            "first_token_s_median": round(statistics.median(v[0] for v in values), 3),
            "tokens_per_s_median": round(statistics.median(v[1] for v in values), 1),
        }
    ours_m, bare_m = result["ragapp"], result["openai_client"]
    result["tokens_per_s_ratio"] = round(ours_m["tokens_per_s_median"] / bare_m["tokens_per_s_median"], 3) if bare_m["tokens_per_s_median"] else None
    result["first_token_ratio"] = round(bare_m["first_token_s_median"] / ours_m["first_token_s_median"], 3) if ours_m["first_token_s_median"] else None
    say(
        f"generation through {info.describe()} (median of {runs}): ragapp first token {ours_m['first_token_s_median']} s, "
        f"{ours_m['tokens_per_s_median']} tokens/s; OpenAI client {bare_m['first_token_s_median']} s, "
        f"{bare_m['tokens_per_s_median']} tokens/s (tokens/s {result['tokens_per_s_ratio']}x, first token {result['first_token_ratio']}x)"
    )
    return result


def _bench_answers(scratch: _Scratch, questions_path: Path, load_docs: Path | None, say) -> dict:
    """Whole answers (quote, then the model's sentence) to the questions, timed three ways in one
    run: on an idle machine; while a second process asks the same questions with its own model;
    and while another process ingests load_docs into a store of its own."""
    import subprocess
    import sys

    from ragapp.eval import load_questions

    pipeline = scratch.pipelines[0]
    pipeline.warm_up()
    questions = [q.question for q in load_questions(questions_path)]

    def timed() -> tuple[float, float]:
        whole, first = [], []
        for question in questions:
            answer = pipeline.ask(question)
            whole.append(answer.timings.total_s)
            if answer.timings.first_token_s is not None:
                first.append(answer.timings.first_token_s)
        return statistics.median(whole), statistics.median(first) if first else 0.0

    def beside(command: list[str], env: dict) -> tuple[float, float]:
        # A session of its own, so that the worker and whatever it starts are stopped together.
        worker = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            time.sleep(15)  # until it has loaded its models and is at work
            return timed()
        finally:
            os.killpg(worker.pid, 9)
            worker.wait()

    result = {"questions": len(questions)}
    result["idle_p50_s"], result["idle_first_text_p50_s"] = (round(v, 3) for v in timed())
    settings = pipeline.settings
    asker_env = {"RAGAPP_STORE_DIR": str(settings.store_dir), "RAGAPP_COLLECTION": settings.collection}
    asker = [sys.executable, "-c", "import sys; from ragapp.bench import ask_forever; ask_forever(sys.argv[1])", str(questions_path)]
    result["asker_p50_s"], result["asker_first_text_p50_s"] = (round(v, 3) for v in beside(asker, asker_env))
    if load_docs:
        ingest_env = {"RAGAPP_STORE_DIR": str(scratch.tmp / "load-store"), "RAGAPP_COLLECTION": "load"}
        # Ingested again and again, so that it runs for the whole measurement.
        again = "import subprocess, sys\nwhile True: subprocess.run([sys.executable, '-m', 'ingest', sys.argv[1], '--reset'])"
        ingester = [sys.executable, "-c", again, str(load_docs)]
        result["ingest_p50_s"], result["ingest_first_text_p50_s"] = (round(v, 3) for v in beside(ingester, ingest_env))
        stop_local_server(scratch.tmp / "load-store")
    idle = result["idle_p50_s"] or 1e-9
    result["asker_ratio"] = round(result["asker_p50_s"] / idle, 2)
    if load_docs:
        result["ingest_ratio"] = round(result["ingest_p50_s"] / idle, 2)
    say(
        f"answers ({len(questions)} questions, whole answer p50 / first text p50): idle {result['idle_p50_s']} / "
        f"{result['idle_first_text_p50_s']} s; beside a second asker {result['asker_p50_s']} / {result['asker_first_text_p50_s']} s "
        f"({result['asker_ratio']}x)"
        + (f"; beside an ingest {result['ingest_p50_s']} / {result['ingest_first_text_p50_s']} s ({result['ingest_ratio']}x)" if load_docs else "")
    )
    return result


def _bench_api(scratch: _Scratch, questions_path: Path, say) -> dict:
    """The API's overhead: answers through `/v1/chat/completions` (a real uvicorn on loopback, asked
    with the official openai client) beside the same answers from the library, alternating, one
    question at a time. Both in this process, on the same pipeline and model, so that the
    difference is the API's alone (HTTP, JSON, threads). Then `ragapp serve` in its own process and
    this process asking at once, twice: with a model in each process, and with this process using
    the serve process's model route (one model for the machine, one queue)."""
    import subprocess
    import sys
    import threading

    import httpx
    import openai
    import uvicorn

    from ragapp.api import create_app
    from ragapp.eval import load_questions
    from ragapp.store.server import free_port

    pipeline = scratch.pipelines[0]
    pipeline.warm_up()
    settings = pipeline.settings
    questions = [q.question for q in load_questions(questions_path)]

    def wait_for(url: str, process: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or (process is not None and process.poll() is not None):
                raise RuntimeError(f"the API at {url} did not start")
            time.sleep(0.1)

    def asker(url: str):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="local", max_retries=0, timeout=300)

        def through_api(question: str) -> tuple[float, str]:
            started = time.perf_counter()
            response = client.chat.completions.create(model=settings.collection, messages=[{"role": "user", "content": question}])
            return time.perf_counter() - started, response.choices[0].message.content

        return through_api

    def through_library(question: str, on: Pipeline = pipeline) -> tuple[float, str]:
        started = time.perf_counter()
        answer = on.ask(question)
        return time.perf_counter() - started, answer.text

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(pipeline), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(f"http://127.0.0.1:{port}")
        through_api = asker(f"http://127.0.0.1:{port}")
        for question in questions[:2]:  # both ways warm
            through_api(question), through_library(question)
        api_s, library_s, same = [], [], 0
        # The model keeps the last prompt: the second of two runs of a question would reuse it. Each
        # run starts from an empty cache, as a new question does.
        reset = getattr(pipeline.generator, "reset_cache", lambda: None)
        for i, question in enumerate(questions):
            first, second = (through_api, through_library) if i % 2 == 0 else (through_library, through_api)
            timed = {}
            for way in (first, second):
                reset()
                timed[way] = way(question)
            api_s.append(timed[through_api][0])
            library_s.append(timed[through_library][0])
            same += timed[through_api][1] == timed[through_library][1]
    finally:
        server.should_exit = True
        thread.join(10)
    result: dict = {
        "questions": len(questions), "same_answers": same, "api_s": [round(t, 4) for t in api_s],
        "library_s": [round(t, 4) for t in library_s],
        "api_p50_s": round(statistics.median(api_s), 4), "library_p50_s": round(statistics.median(library_s), 4),
        "overhead_p50_ms": round(statistics.median([(a - b) * 1000 for a, b in zip(api_s, library_s)]), 1),
    }
    result["ratio_p50"] = round(statistics.median(a / b for a, b in zip(api_s, library_s)), 3)
    result["total_ratio"] = round(sum(api_s) / sum(library_s), 3)
    say(
        f"API ({len(questions)} questions, alternating, /v1/chat/completions with the openai client vs the library, "
        f"same process and model, each from an empty prompt cache): p50 {result['api_p50_s']} s vs {result['library_p50_s']} s; "
        f"per answer, API minus library p50 {result['overhead_p50_ms']} ms, API / library p50 {result['ratio_p50']}x; "
        f"all answers {result['total_ratio']}x; the same answer {same} of {len(questions)} times"
    )

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGAPP_")}
    env.update({"RAGAPP_STORE_DIR": str(settings.store_dir), "RAGAPP_COLLECTION": settings.collection,
                "RAGAPP_SIGN_IN": "none", "RAGAPP_MODEL_PATH": settings.model_path})
    serve = subprocess.Popen([sys.executable, "-m", "ragapp.cli", "serve", "--port", str(port)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url, serve)
        through_serve = asker(url)

        def together(local: Pipeline) -> dict:
            api_times: list[float] = []

            def api_side() -> None:
                for question in questions:
                    api_times.append(through_serve(question)[0])

            started = time.perf_counter()
            side = threading.Thread(target=api_side)
            side.start()
            local_times = [through_library(q, local)[0] for q in questions]
            side.join()
            return {"wall_s": round(time.perf_counter() - started, 2), "api_p50_s": round(statistics.median(api_times), 3),
                    "local_p50_s": round(statistics.median(local_times), 3)}

        through_serve(questions[0])
        result["two_models"] = together(pipeline)
        # A new process on the store finds the serve process's model and uses it (ragapp.lending).
        shared = Pipeline(settings.replace(llm_url="", share_model=True), embedder=pipeline.embedder)
        shared.warm_up()
        if getattr(shared.generator, "lent_by", None) != serve.pid:
            raise RuntimeError("the serve process did not lend its model")
        result["one_model"] = together(shared)
    finally:
        os.killpg(serve.pid, 15)
        try:
            serve.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, 9)
            serve.wait()
    for name, words in (("two_models", "a model in each"), ("one_model", "this one on the API's model route")):
        r = result[name]
        say(f"`ragapp serve` and this process asking at once, {words}: {r['wall_s']} s for {2 * len(questions)} answers; "
            f"p50 through the API {r['api_p50_s']} s, in this process {r['local_p50_s']} s")
    return result


def ask_forever(questions_path: str) -> None:
    """A second process for _bench_answers: asks the questions over and over until it is killed."""
    from ragapp.eval import load_questions

    pipeline = Pipeline(Settings.load())
    questions = [q.question for q in load_questions(Path(questions_path))]
    while True:
        for question in questions:
            pipeline.ask(question)
