"""Several real processes share one store, and every one of them keeps seeing what the others wrote.

For the whole test, over one temporary store folder:

- `ingest --watch WATCHED` runs (the venv's console script), bringing WATCHED's files into the store;
- `streamlit run ui/app.py` serves the app, driven in headless Chromium (Debian's, through Playwright);
- five rounds follow. In each, a fresh `ingest DOCS --prune` process (run to completion, exit code 0)
  stores new files, a changed file (one fact's value changes) and the removal of a file in DOCS,
  while one file of WATCHED is added, changed or removed for the watch to pick up. Then
  `ragapp documents` (another fresh process) must list exactly the files present, and in the browser
  questions about those facts must cite the right file (and never the changed file's old value),
  and a question about a removed file must not name it anywhere in the answer, neither as a source
  nor as a related passage. The page never shows an error, and neither the app's log nor the watch's
  ever holds a traceback or an ERROR line.

The facts are invented and appear nowhere else ("The access code of the Kestrel vault is 4821."), one
small Markdown file each, so a question about one can only be answered from its file. The filler is
realistic prose: the 16 Wikipedia articles of ../shared/bench/squad2-dev/docs/ (812 passages at the
default 200-token passages), copied under other names with a changed title line ("# Warsaw, edition 2")
to multiply them.

Size (FILLER_FILES, PASSAGE_TARGET): the store must end past PASSAGE_TARGET passages. The article
copies are spread evenly over the set-up and the five rounds, and two of them (71 passages) are
removed again in rounds 3 and 5. Full size, the default: 48 copies (3 of each article, 2,436
passages), about 2,380 at the end, target 2,000: twice past Chroma's compaction thresholds (about
1,000). In CI (env CI=true): 15 copies (one of 15 articles, 740 passages), about 680 at the end,
target 600, to stay quick on 2 cores; RAGAPP_TEST_FULL_SIZE=1 forces the full size there too.

15 questions are asked in all, 3 a round. The last round's answers are kept as
screenshots in test-artifacts/browser/, with the logs of the app, the watch and each ingest, and
what the run measured, step by step (shared-store-summary.txt).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import ROOT, SHARED

from browser.harness import ARTIFACTS, CHROMIUM, NO_CHROMIUM, browser, serve, shot, stop, wait_for  # noqa: F401 (fixture)
from integration.helpers import BIN, cli_env, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.browser]

if not CHROMIUM.exists():
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

ARTICLES = SHARED / "bench" / "squad2-dev" / "docs"
if not ARTICLES.is_dir():
    pytest.skip(f"no filler articles at {ARTICLES}", allow_module_level=True)

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
FULL_SIZE = os.environ.get("RAGAPP_TEST_FULL_SIZE") == "1" or not IN_CI
FILLER_FILES = 48 if FULL_SIZE else 15
PASSAGE_TARGET = 2000 if FULL_SIZE else 600

# An answer is complete once its timings line is shown (it comes after the text and the sources).
# The line under a finished answer that says how it was made (the timings sit behind "Details").
DONE = re.compile(r"Quoted from the passages|Declined: nothing in the documents")
CITED = re.compile(r"\[\d+\]\s+([^\s,]+)")
DECLINED = "Declined: nothing in the documents answers this."
PAGE_ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"
ERROR_WORDS = ("Something went wrong", "This app has encountered an error")
# The report line of one file, after `NAME: `, as ingest and the watch print it.
OUTCOMES = {
    "new": r"stored, \d+ passages? \(new\)",
    "changed": r"stored, \d+ passages? \(changed\)",
    "removed": r"removed, \d+ passages? \(file is gone\)",
}


@dataclass(frozen=True)
class Fact:
    name: str  # the file's name, its source as ragapp lists it
    title: str
    sentence: str  # holds {value}
    question: str
    values: tuple[str, str]  # as first written, and after the change

    def text(self, value: str) -> str:
        return f"# {self.title}\n\n{self.sentence.format(value=value)} The figure is noted in the {self.title} register.\n"


FACTS = [
    Fact("kestrel-vault.md", "Kestrel vault", "The access code of the Kestrel vault is {value}.",
         "What is the access code of the Kestrel vault?", ("4821", "7390")),
    Fact("marrowby-ferry.md", "Marrowby ferry", "The Marrowby ferry carries at most {value} passengers.",
         "How many passengers can the Marrowby ferry carry?", ("2364", "5817")),
    Fact("quillon-tower.md", "Quillon signal tower", "The Quillon signal tower is {value} metres tall.",
         "How tall is the Quillon signal tower?", ("3147", "6052")),
    Fact("brackenfold-orchard.md", "Brackenfold orchard", "The Brackenfold orchard has {value} pear trees.",
         "How many pear trees does the Brackenfold orchard have?", ("8746", "2519")),
    Fact("tessaly-archive.md", "Tessaly archive", "The Tessaly archive holds {value} wax cylinders.",
         "How many wax cylinders does the Tessaly archive hold?", ("6283", "3471")),
    Fact("vintry-lanterns.md", "Vintry lantern festival", "The Vintry lantern festival lights {value} paper lanterns.",
         "How many paper lanterns does the Vintry lantern festival light?", ("9132", "4675")),
    Fact("halloway-well.md", "Halloway well", "The Halloway well is {value} centimetres deep.",
         "How deep is the Halloway well?", ("5396", "8214")),
    Fact("corrimond-mill.md", "Corrimond windmill", "The Corrimond windmill grinds {value} kilograms of rye each day.",
         "How many kilograms of rye does the Corrimond windmill grind each day?", ("7258", "3906")),
    Fact("fenwarden-library.md", "Fenwarden library", "The Fenwarden library owns {value} hand-drawn atlases.",
         "How many hand-drawn atlases does the Fenwarden library own?", ("4517", "9368")),
    Fact("pellucid-glacier.md", "Pellucid glacier", "The Pellucid glacier moves {value} millimetres every week.",
         "How far does the Pellucid glacier move every week?", ("6941", "2783")),
    Fact("sarrow-choir.md", "Sarrow choir", "The Sarrow choir has sung {value} concerts.",
         "How many concerts has the Sarrow choir sung?", ("3628", "8095")),
    Fact("ravelstone-quarry.md", "Ravelstone quarry", "The Ravelstone quarry ships {value} tonnes of slate a year.",
         "How many tonnes of slate does the Ravelstone quarry ship a year?", ("5179", "7462")),
    Fact("glimmerholt-bakery.md", "Glimmerholt bakery", "The Glimmerholt bakery bakes {value} loaves every Sunday.",
         "How many loaves does the Glimmerholt bakery bake every Sunday?", ("2847", "6539")),
    Fact("wexcombe-canal.md", "Wexcombe canal", "The Wexcombe canal has {value} wooden lock gates.",
         "How many wooden lock gates does the Wexcombe canal have?", ("8362", "4158")),
]
WATCHED_FACTS = [
    Fact("nightjar-station.md", "Nightjar weather station",
         "The Nightjar weather station measured {value} millimetres of rain last year.",
         "How much rain did the Nightjar weather station measure last year?", ("3814", "6927")),
    Fact("lorrimer-garden.md", "Lorrimer garden", "The Lorrimer garden grows {value} kinds of fern.",
         "How many kinds of fern does the Lorrimer garden grow?", ("5063", "2491")),
    Fact("abernook-clock.md", "Abernook clock tower", "The bell of the Abernook clock tower weighs {value} kilograms.",
         "How much does the bell of the Abernook clock tower weigh?", ("7715", "4382")),
]


@dataclass(frozen=True)
class Round:
    add: tuple[int, ...]  # FACTS stored new by this round's ingest
    change: int  # a FACT stored before whose value changes
    remove: int  # a FACT stored before whose file is deleted
    watched: tuple[str, int]  # ("add" | "change" | "remove", WATCHED_FACTS index)
    remove_filler: bool = False  # also delete the oldest article copy still there


SET_UP = (0, 1, 2, 3)  # FACTS of the first ingest, before the app starts; WATCHED_FACTS[0] is watched from the start
ROUNDS = [
    Round(add=(4, 5), change=0, remove=1, watched=("add", 1)),
    Round(add=(6, 7), change=4, remove=2, watched=("change", 0)),
    Round(add=(8, 9), change=6, remove=5, watched=("remove", 1), remove_filler=True),
    Round(add=(10, 11), change=8, remove=3, watched=("add", 2)),
    Round(add=(12, 13), change=10, remove=7, watched=("change", 2), remove_filler=True),
]


def _fillers() -> list[tuple[str, str]]:
    """(file name, text) of FILLER_FILES article copies: copy 1 of every article, then copy 2, …"""
    articles = sorted(ARTICLES.glob("*.md"))
    copies = []
    for n in range(FILLER_FILES):
        article, edition = articles[n % len(articles)], n // len(articles) + 1
        title, _, body = article.read_text(encoding="utf-8").partition("\n")
        copies.append((f"essay-{edition}-{article.stem}.md", f"{title}, edition {edition}\n{body}"))
    return copies


@dataclass
class Reply:
    question: str
    text: str  # the whole answer as the page shows it: text, how it was made, sources, related, timings
    cited: list[str]
    seconds: float

    @property
    def declined(self) -> bool:
        return DECLINED in self.text

    def __str__(self) -> str:
        return f"Q: {self.question}\ncited: {self.cited}\n--- answer as shown ---\n{self.text}\n---"


@dataclass
class Tally:
    """What the run measured, written to test-artifacts/browser/shared-store-summary.txt."""

    started: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.lines.append(f"{time.monotonic() - self.started:7.1f} s  {line}")

    def write(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "shared-store-summary.txt").write_text("\n".join(self.lines) + "\n")


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"({path} unreadable: {exc})"


def _bad_log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line]


def _stored(store: Path) -> dict[str, int]:
    """source -> passages, as a fresh `ragapp documents` process lists them."""
    result = run_cli(["ragapp", "documents"], store, timeout=300)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
    found = {}
    for line in result.stdout.splitlines():
        source, tab, rest = line.partition("\t")
        if tab:
            found[source] = int(rest.split()[0])
    return found


def _ingest(store: Path, folder: Path, log_path: Path) -> str:
    started = time.monotonic()
    result = run_cli(["ingest", str(folder), "--prune"], store, timeout=900)
    log_path.write_text(f"exit {result.returncode} after {time.monotonic() - started:.1f} s\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    assert result.returncode == 0, f"ingest {folder} --prune exited {result.returncode}:\n{result.stdout}\n{result.stderr[-6000:]}"
    assert not _bad_log_lines(result.stdout + result.stderr), result.stdout + result.stderr[-6000:]
    return result.stdout


def _assert_outcome(output: str, name: str, outcome: str) -> None:
    """One line of an ingest report: `NAME: stored, N passages (new)` and the like."""
    assert re.search(rf"^{re.escape(name)}: {OUTCOMES[outcome]}$", output, re.MULTILINE), f"no '{name}: {outcome}' line in:\n{output}"


class Watch:
    """`ingest --watch FOLDER` over the store, for the whole test, its output in its own log."""

    def __init__(self, store: Path, folder: Path, log_path: Path) -> None:
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [str(BIN / "ingest"), "--watch", str(folder)], cwd=ROOT, env=cli_env(store),
            stdout=self.log, stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_line(self, name: str, outcome: str, seen_before: str, within_s: float) -> None:
        """Until the watch reports NAME with this outcome once more than in seen_before (its log earlier)."""
        line = re.compile(rf"^{re.escape(name)}: {OUTCOMES[outcome]}$", re.MULTILINE)
        failed = re.compile(r"^\S+: (failed|skipped): .*$", re.MULTILINE)
        before, failed_before = len(line.findall(seen_before)), len(failed.findall(seen_before))

        def reported():
            assert self.process.poll() is None, f"ingest --watch exited ({self.process.returncode}):\n{_tail(self.log_path)}"
            text = self.text()
            assert not _bad_log_lines(text), f"the watch failed:\n{_tail(self.log_path)}"
            assert len(failed.findall(text)) == failed_before, f"the watch could not store a file:\n{_tail(self.log_path)}"
            return len(line.findall(text)) > before

        try:
            wait_for(reported, f"ingest --watch reporting '{name}: {outcome}'", within_s=within_s, every_s=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- watch log:\n{_tail(self.log_path)}") from None

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the watch finishes its pass and exits 0
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.log.close()
        return self.process.returncode


def _page_errors(page) -> str | None:
    """The error the page shows, in its own words, or None."""
    shown = page.locator(PAGE_ERRORS).all_inner_texts() if page.locator(PAGE_ERRORS).count() else []
    shown += [line for line in page.locator("body").inner_text().splitlines() if any(w in line for w in ERROR_WORDS)]
    return "\n".join(dict.fromkeys(text.strip() for text in shown)) or None


def _open(page, url: str) -> None:
    """A fresh session (a new conversation: no earlier question is taken as context)."""
    page.goto(url, timeout=120_000)
    page.wait_for_selector("textarea", timeout=240_000)  # the first visit loads the models
    wait_for(lambda: page.locator("[data-testid='stStatusWidget']").count() == 0, "the app to be idle", 120)


def _ask(page, url: str, question: str, where: str) -> Reply:
    _open(page, url)
    error = _page_errors(page)
    if error:
        pytest.fail(f"{where}: the page shows an error before the question:\n{error}")
    started = time.monotonic()
    page.fill("textarea", question)
    page.keyboard.press("Enter")

    def answered():
        messages = page.locator("[data-testid='stChatMessage']")
        if page.locator(PAGE_ERRORS).count():
            return True
        if messages.count() >= 2:
            text = messages.nth(1).inner_text()
            return any(words in text for words in ERROR_WORDS) or (bool(DONE.search(text)) and "Details" in text)
        return False

    wait_for(answered, f"{where}: the answer to {question!r}", within_s=300, every_s=0.1)
    seconds = time.monotonic() - started
    error = _page_errors(page)
    if error:
        pytest.fail(f"{where}: asking {question!r} showed an error:\n{error}")
    answer = page.locator("[data-testid='stChatMessage']").nth(1)
    labels = answer.locator("[data-testid='stExpander'] summary").all_inner_texts()
    cited = [m.group(1) for label in labels for m in [CITED.search(label)] if m]
    return Reply(question, answer.inner_text(), cited, seconds)


def test_an_app_a_watch_and_fresh_ingests_share_one_store_through_five_rounds(browser, tmp_path):  # noqa: F811
    tally = Tally()
    tally.note(f"size: {'full' if FULL_SIZE else 'CI'}: {FILLER_FILES} article copies, target {PASSAGE_TARGET} passages")
    fillers = _fillers()
    for fact in FACTS + WATCHED_FACTS:  # each fact is told by its own file only
        for value in fact.values:
            assert not any(value in text for _, text in fillers), value
    store, docs, watched = tmp_path / "store", tmp_path / "docs", tmp_path / "watched"
    docs.mkdir()
    watched.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    # The filler is spread evenly over the set-up and the five rounds.
    parts = len(ROUNDS) + 1
    filler_batches = [fillers[i * len(fillers) // parts:(i + 1) * len(fillers) // parts] for i in range(parts)]
    values = {}  # FACTS index -> its value now, for the facts present in docs
    fillers_present: list[str] = []
    watched_values = {}  # WATCHED_FACTS index -> value now, for those present

    def write_fact(folder: Path, fact: Fact, value: str) -> None:
        (folder / fact.name).write_text(fact.text(value), encoding="utf-8")

    def expected_sources() -> set[str]:
        return {FACTS[i].name for i in values} | set(fillers_present) | {WATCHED_FACTS[i].name for i in watched_values}

    def check_listing(where: str) -> int:
        stored = _stored(store)
        assert set(stored) == expected_sources(), (
            f"{where}: `ragapp documents` lists {sorted(set(stored) - expected_sources())} that should be gone, "
            f"lacks {sorted(expected_sources() - set(stored))}"
        )
        total = sum(stored.values())
        tally.note(f"{where}: {len(stored)} documents, {total} passages")
        return total

    watch = server = app_log = None
    app_log_path, watch_log_path = logs / "streamlit.log", logs / "watch.log"
    misquoted = []  # present facts whose answer cited the file but did not state the value (the model may quote)
    try:
        # The watch starts first, over a folder with one file, and keeps running to the end.
        write_fact(watched, WATCHED_FACTS[0], WATCHED_FACTS[0].values[0])
        watched_values[0] = WATCHED_FACTS[0].values[0]
        watch = Watch(store, watched, watch_log_path)
        watch.wait_for_line(WATCHED_FACTS[0].name, "new", "", within_s=300)
        tally.note("the watch stored its folder")

        # The set-up: a first ingest of docs by another process, then the app.
        for i in SET_UP:
            write_fact(docs, FACTS[i], FACTS[i].values[0])
            values[i] = FACTS[i].values[0]
        for name, text in filler_batches[0]:
            (docs / name).write_text(text, encoding="utf-8")
            fillers_present.append(name)
        output = _ingest(store, docs, logs / "ingest-0.log")
        for i in SET_UP:
            _assert_outcome(output, FACTS[i].name, "new")
        tally.note("set-up ingest done")
        check_listing("after the set-up")

        server, url, app_log = serve(store, app_log_path)
        tally.note("the app answers")
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.console_errors = []
        page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        _open(page, url)
        tally.note("the app's first page (models loaded)")

        total = 0
        for number, plan in enumerate(ROUNDS, start=1):
            where = f"round {number}"
            # The watched folder changes first: the watch writes while the next ingest starts.
            kind, w = plan.watched
            seen_before = watch.text()
            wfact = WATCHED_FACTS[w]
            if kind == "remove":
                (watched / wfact.name).unlink()
                old_watched = watched_values.pop(w)
            else:
                old_watched = watched_values.get(w)
                watched_values[w] = wfact.values[1] if kind == "change" else wfact.values[0]
                write_fact(watched, wfact, watched_values[w])

            for i in plan.add:
                write_fact(docs, FACTS[i], FACTS[i].values[0])
                values[i] = FACTS[i].values[0]
            assert values[plan.change] == FACTS[plan.change].values[0]
            values[plan.change] = FACTS[plan.change].values[1]
            write_fact(docs, FACTS[plan.change], values[plan.change])
            (docs / FACTS[plan.remove].name).unlink()
            del values[plan.remove]
            for name, text in filler_batches[number]:
                (docs / name).write_text(text, encoding="utf-8")
                fillers_present.append(name)
            removed_filler = None
            if plan.remove_filler:
                removed_filler = fillers_present.pop(0)
                (docs / removed_filler).unlink()

            round_started = time.monotonic()
            output = _ingest(store, docs, logs / f"ingest-{number}.log")
            for i in plan.add:
                _assert_outcome(output, FACTS[i].name, "new")
            _assert_outcome(output, FACTS[plan.change].name, "changed")
            _assert_outcome(output, FACTS[plan.remove].name, "removed")
            for name, _ in filler_batches[number]:
                _assert_outcome(output, name, "new")
            if removed_filler:
                _assert_outcome(output, removed_filler, "removed")
            watch.wait_for_line(wfact.name, {"add": "new", "change": "changed", "remove": "removed"}[kind], seen_before, within_s=300)
            tally.note(f"{where}: ingest and watch done in {time.monotonic() - round_started:.1f} s")
            total = check_listing(where)

            # The app must see all of it: its document list, and answers from the new state only.
            _open(page, url)
            sidebar = page.locator("[data-testid='stSidebar']").inner_text()
            assert f"Documents ({len(expected_sources())})" in sidebar, f"{where}: the app's sidebar:\n{sidebar}"
            assert FACTS[plan.remove].name not in sidebar, f"{where}: the app still lists {FACTS[plan.remove].name}"

            questions = [  # (fact, value now or None when gone, old value that must not be shown)
                (FACTS[plan.change], values[plan.change], FACTS[plan.change].values[0]),
                (FACTS[plan.remove], None, None),
                (wfact, watched_values.get(w), old_watched if kind == "change" else None),
            ]
            for q, (fact, value, old) in enumerate(questions, start=1):
                reply = _ask(page, url, fact.question, where)
                tally.note(f"{where} q{q}: {reply.seconds:.1f} s, cited {reply.cited}, "
                           f"{'declined' if reply.declined else 'answered'}: {fact.question}")
                if number == len(ROUNDS):
                    shot(page, f"shared-store-round{number}-q{q}-{fact.name.removesuffix('.md')}", full_page=True)
                if value is None:  # the file is gone: nothing of it may be shown
                    assert fact.name not in reply.text, f"{where}: a removed file is still shown:\n{reply}"
                    for gone in fact.values:  # told by that file only
                        assert gone not in reply.text, f"{where}: a value of the removed {fact.name} is shown:\n{reply}"
                    continue
                assert fact.name in reply.cited, f"{where}: the answer does not cite {fact.name}:\n{reply}"
                if old is not None:  # (a declined answer cites nothing: it failed above)
                    assert old not in reply.text, f"{where}: the old value {old} of {fact.name} is shown:\n{reply}"
                if value not in reply.text:
                    misquoted.append(f"{where}: {fact.name} ({value}) cited but not stated")

        assert total > PASSAGE_TARGET, f"the store holds only {total} passages, not past {PASSAGE_TARGET}"
        assert page.console_errors == [], page.console_errors
        page.close()
        tally.note(f"misquoted (allowed): {misquoted or 'none'}")
        # The app never failed on the server either (harness.stop: no traceback in its log).
        stop(server, app_log, app_log_path)
        server = None
        assert not _bad_log_lines(app_log_path.read_text(errors="replace")), _tail(app_log_path)
        code = watch.stop()
        assert code == 0, f"ingest --watch exited {code}:\n{_tail(watch_log_path)}"
        assert not _bad_log_lines(watch.text()), _tail(watch_log_path)
        tally.note("passed")
    finally:
        if watch is not None:
            watch.stop()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            app_log.close()
        tally.write()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for log in logs.glob("*.log"):
            shutil.copy(log, ARTIFACTS / f"shared-store-{log.name}")
