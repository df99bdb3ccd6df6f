"""The quoted answer: which sentences of the retrieved passages answer the question, in what order.

The answer is built from the passages' own sentences before the model is asked, so it is on the
screen at once and can only say what the documents say:
- a question of several parts ("What is the meal allowance, and do I need receipts?") gets the best
  sentence for each part;
- a sentence answers only if it holds what the question asks for: a "who" needs a person, a "when"
  a time, a "how much" an amount, and every answer something the question did not already say
  (a sentence that shares a name with the question is not an answer);
- the best sentence brings the next best of its own passage when that one is nearly as relevant
  (the conditions of a yes/no answer, the second half of a rule);
- an overview ("Summarise the expenses policy", "What does the leave policy say about sick leave?",
  "What should I do on day one?") is the key sentence of each section of the document it names, in
  the document's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ragapp.documents import Hit, Passage
from ragapp.embedder import Embedder
from ragapp.extract import CONTEXT_WEIGHT, MIN_WORDS, Context, Quote, relevance, rank_bonus
from ragapp.series import without_periods
from ragapp.splitter import split_sentences
from ragapp.text import content_words, fold, key, letter_words, names, numbers, stem

# A second sentence of the best passage joins the answer when it scores at least this share of the
# best sentence's relevance.
COMPANION_SHARE = 0.85
# What the share of the question's key words held by a sentence and its two neighbours adds to its score.
WINDOW_WEIGHT = 0.5
# A later part of a several-part question is answered when its best sentence reaches this share of
# the relevance gate: the part alone ("do I need receipts?") says less than the whole question.
PART_GATE_SHARE = 0.6
# Least relevance of a section's heading to what an overview asks about ("sick leave"), for that
# section to be the one summarised.
HEADING_CLOSENESS = 0.585
# An overview quotes at most this many sections; a section overview at most this many sentences.
OVERVIEW_SECTIONS = 6
SECTION_SENTENCES = 4

PERSON, TIME, AMOUNT = "person", "time", "amount"

# The word lists below are compared with stemmed words (text.letter_words), so they are stemmed too.
_NUMBER_WORDS = frozenset(
    stem(w) for w in """one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty
    sixty seventy eighty ninety hundred thousand million billion half quarter twice double dozen once
    single first second third fourth fifth sixth seventh eighth ninth tenth""".split()
)
_TIME_WORDS = frozenset(
    stem(w) for w in """january february march april may june july august september october november december monday
    tuesday wednesday thursday friday saturday sunday year month week day hour minute second morning
    evening night noon midnight today tomorrow yesterday daily weekly monthly yearly annual annually
    quarter quarterly before after within until till during since ago ahead advance later earlier
    immediately soon start end beginning probation period date time deadline century decade season
    spring summer autumn winter always never every when while once if unless only""".split()
)
# What a "What was ...?" question asks a figure of: the items of a financial statement, a price, a rate.
_FIGURE_WORDS = frozenset(
    stem(w) for w in """revenue revenues sales income profit profits loss losses margin assets liabilities equity cash
    expense expenses cost costs earnings eps dividend dividends debt inventories inventory payable receivable
    capex expenditures price rate salary allowance budget fee fees total balance""".split()
)
# Words by which a question picks one of several ("the largest city", "the first French Bible",
# "the least used type"): an answer says the same of what it names.
# Compared word for word, not by stems: "mostly" picks nothing.
_PICKING_WORDS = frozenset(
    """most least first last largest biggest smallest highest lowest best worst earliest oldest greatest longest
    shortest""".split()
)
# A year as written in a text: four digits, no thousands separator ("1869", not "1,869" or "18690").
_YEAR = re.compile(r"(?<![\d,.])(?:1\d{3}|20\d{2})(?![\d]|[,.]\d)")
# Questions that ask how many or how much of something (a count, a sum, a share), which a year does
# not answer, unless it is years that are counted ("How many years ...?").
_COUNT_QUESTION = re.compile(r"^(?:and\s+)?(?:how (?:much|many)|what (?:percentage|share|proportion|amount|number))\b")
_COUNTS_YEARS = re.compile(r"\b(?:years?|decades?|centur(?:y|ies)|millenni(?:um|a))\b")
# Words that answer a "how much" without a number ("free", "no limit").
_NO_AMOUNT_WORDS = frozenset(stem(w) for w in "free full unlimited no none".split())
# Words that name people by what they do: a "who" question about a role is answered by one.
_PERSON_WORDS = frozenset(
    stem(w) for w in """manager director team lead buddy colleague owner engineer employee staff people person operations
    department officer ceo founder president chair board member head hr finance security admin
    administrator user customer client partner secondary primary everyone nobody anyone king queen
    emperor pope minister government council committee army company""".split()
)

_WH = r"(?:what|when|where|who|whom|whose|which|why|how|do|does|did|is|are|was|were|can|could|may|must|should|will|would|have|has)"
# Where a question turns to its next part: ", and do I need receipts?", "? And what about ...".
_PART_BREAK = re.compile(rf"(?:,\s*(?:and|but|or|also)\s+|\?\s+(?:and\s+|also\s+)?|;\s*|\s+and\s+(?=(?:{_WH}|what about)\b))(?={_WH}\b|what about\b)", re.IGNORECASE)

_OVERVIEW = re.compile(
    r"^\s*(?:please\s+)?(?:summari[sz]e|sum up|give (?:me )?(?:an? )?(?:overview|summary) of|"
    r"(?:what is|what's) (?:in|the gist of)|an? (?:overview|summary) of|overview of|tl;?dr)\s+(?P<what>.+?)[?.!]*\s*$",
    re.IGNORECASE,
)
_SAYS_ABOUT = re.compile(
    r"^\s*what (?:does|do) (?:the )?(?P<what>.+?) (?:say|says|state|cover) (?:about|on|regarding) (?P<about>.+?)[?.!]*\s*$",
    re.IGNORECASE,
)
# Questions whose answer is a list of steps or things rather than one fact.
_LIST_QUESTION = re.compile(
    r"^\s*(?:what (?:should|must|do|shall|can) (?:i|we|you) (?:do|bring|know|prepare)|what do (?:i|we) need to do|"
    r"what are the steps|what happens (?:if|when|after|before)|how do (?:i|we) (?:get started|start|prepare))\b",
    re.IGNORECASE,
)


def question_parts(question: str) -> list[str]:
    """The question split where it asks a second thing; a one-part question is returned whole."""
    parts = [p.strip(" ,;?") for p in _PART_BREAK.split(question)]
    parts = [p for p in parts if len(content_words(p)) >= 1]
    return parts if len(parts) > 1 else [question.strip()]


def answer_type(question: str) -> str | None:
    """What an answer must hold: a person, a time or an amount; None when any statement may answer."""
    q = question.strip().lower()
    # "When Iqbal promoted unity, what did he encourage?" asks its main clause's question.
    main = re.search(r",\s*((?:what|who|whom|whose|which|how|where|why)\b.*)$", q)
    if main:
        q = main.group(1)
    if re.match(r"^(?:and\s+)?(?:who|whom|whose)\b", q) or re.search(r"\b(?:by|to|from|with) whom\b", q):
        return PERSON
    if re.match(r"^(?:and\s+)?(?:how (?:much|many|long|often|far|big|large|high|old|fast|quickly|soon)|what (?:percentage|share|proportion|amount|number))\b", q):
        return AMOUNT
    # "What was Acme's gross margin?", "What were the total assets?": a figure is asked for.
    # ("What did Saudi Arabia try to repress to compensate for its loss of stature?" asks what was
    # done, not a figure: "did" is not a figure's verb.)
    figure = re.match(r"^(?:and\s+)?(?:what|which)\s+(?:was|were|is|are)\b(.*)$", q)
    if figure and letter_words(figure.group(1)) & _FIGURE_WORDS:
        return AMOUNT
    if re.match(r"^(?:and\s+)?(?:when|by when|until when|since when|what (?:year|date|day|month|time))\b", q) or re.search(r"\bin what year\b", q):
        return TIME
    return None


def holds_type(sentence: str, kind: str | None, question: str, quoted: bool = False, known_names: set[str] = frozenset()) -> bool:
    """Whether the sentence holds what the question asks for, beyond what the question says.

    A sentence of the model's that only says the question back ("Yes, you can work from another
    country for a month.") answers nothing; a quoted sentence that does is the documents saying
    it (quoted=True: "Contractors bring their own laptop." for "laptop or phone?").
    known_names: names its passage writes elsewhere, so that one opening the sentence counts
    ("Bowman was the director ..." where the passage names "Isaiah Bowman")."""
    asked = content_words(question) | {w.lower() for w in names(question)}
    words = content_words(sentence)
    new_words = words - asked
    new_numbers = numbers(sentence) - numbers(question)
    if not quoted and not new_words and not new_numbers:
        return False  # it only repeats the question
    plain = letter_words(sentence)
    if kind == PERSON:
        opening = re.match(r"\s*([^\W\d_]{2,})", sentence)  # its first word, of any script
        first = {key(fold(opening.group(1)))} & known_names if opening and opening.group(1)[0].isupper() else set()
        new_names = (names(sentence) | first) - asked
        return bool(new_names or (plain & _PERSON_WORDS) - asked)
    if kind == AMOUNT:
        figures = numbers(sentence)
        q = question.strip().lower()
        if _COUNT_QUESTION.match(q) and not _COUNTS_YEARS.search(q):
            # "How many students did Eliot teach?" is not answered by "his tenure (1869-1909)".
            figures = numbers(_YEAR.sub(" ", sentence))
        return bool(figures or plain & (_NUMBER_WORDS | _NO_AMOUNT_WORDS))
    if kind == TIME:
        return bool(numbers(sentence) or plain & (_TIME_WORDS | _NUMBER_WORDS))
    return True


_ORDINAL_WORDS = {
    w: str(n) for n, w in enumerate(
        """first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth
        fifteenth sixteenth seventeenth eighteenth nineteenth twentieth""".split(), start=1)
}
_CENTURY = re.compile(rf"\b(\d{{1,2}}|{'|'.join(_ORDINAL_WORDS)})(?:st|nd|rd|th)?[\s-]+century\b", re.IGNORECASE)


def _century_start(match: re.Match) -> str:
    """The hundred a century begins with: the 18th century is the 1700s."""
    n = match.group(1).lower()
    return str((int(_ORDINAL_WORDS.get(n, n)) - 1) * 100)


def _numbers_named(text: str) -> set[str]:
    """The numbers a question names, a century as its hundred ("the 21st century": 2000)."""
    return numbers(_CENTURY.sub(lambda m: f" {_century_start(m)}s ", text))


def _numbers_said(text: str) -> set[str]:
    """The numbers a text says, in figures or in words: "Genghis' third son" says 3, "by the early 18th
    century" the 1700s."""
    said = numbers(text) | {_century_start(m) for m in _CENTURY.finditer(text)}
    return said | {_ORDINAL_WORDS[w] for w in _plain_words(text) if w in _ORDINAL_WORDS}


def says_what_is_asked(question: str, around: str) -> bool:
    """Whether a sentence, read with its neighbours and the title of its document (around), holds
    what the question attaches its answer to: each number the question names ("Warsaw's population
    in 1901" is not answered by today's population, nor "the 22nd" by another rank) and each word
    by which it picks one of several ("the least used type" is not answered by the most used one,
    "the first French Bible" by a later one)."""
    if not _numbers_named(question) <= _numbers_said(around):
        return False
    return _plain_words(question) & _PICKING_WORDS <= _plain_words(around)


def _plain_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


# A capitalised word after a lower-case word, a number, a comma or a semicolon within a line: a
# name, not the start of a sentence or of a line ("Welcome to Fernhill Analytics." after a blank
# line is not one). Words of any script: the capitals are checked in _named_within.
_WORD_WITHIN = re.compile(r"(?<=[\w,;] )[^\W\d_]{2,}")


def _named_within(text: str) -> set[str]:
    found = set()
    for match in _WORD_WITHIN.finditer(text):
        before = text[match.start() - 2]
        if match.group()[0].isupper() and (before.islower() or before.isdigit() or before in ",;"):
            found.add(key(fold(match.group())))
    return found


@dataclass
class Candidate:
    """A sentence of the n-th shown passage, where it sits in that passage, its neighbours, and its
    relevance."""

    sentence: str
    n: int
    position: int
    score: float = 0.0
    window: str = ""  # the sentence with the one before and the one after it
    # For a table's row ("Revenue: 817 (Three Months Ended March 31, 2024)"), what it is the row
    # of: its document's title and file name, which the row itself never names.
    of: str = ""

    @property
    def judged(self) -> str:
        """The text its relevance is judged on."""
        return f"{self.of}: {self.sentence}" if self.of else self.sentence


# A row of a table as ragapp.tables and ragapp.office write it: "Label: figure (column); figure ...".
_TABLE_ROW = re.compile(r"^[^:;]{1,200}: [^;]*\d[^;]*(?:; [^;]*\d[^;]*)*$")


# A sentence that only announces what comes next ("An example of a decision problem is the
# following.", "The rules are:") answers nothing by itself.
_INTRODUCES = re.compile(r"(?:\b(?:the following|as follows)\s*[.:]|:)\s*$", re.IGNORECASE)


def candidates(hits: Sequence[Hit]) -> list[Candidate]:
    """Every sentence of the hits that could be quoted: long enough, not a heading, not a title."""
    found = []
    for n, hit in enumerate(hits, start=1):
        title = hit.passage.title.strip().rstrip(".").lower()
        sentences = split_sentences(hit.passage.text)
        for position, sentence in enumerate(sentences):
            if len(sentence.split()) < MIN_WORDS or sentence.startswith("#") or _INTRODUCES.search(sentence):
                continue
            if title and sentence.strip().rstrip(".").lower() == title:
                continue
            window = " ".join(sentences[max(0, position - 1): position + 2])
            of = f"{hit.passage.headline} ({hit.passage.source.rsplit('/', 1)[-1]})" if _TABLE_ROW.match(sentence) else ""
            found.append(Candidate(sentence, n, position, window=f"{of} {window}".strip(), of=of))
    return found


def scored(
    question: str,
    pool: Sequence[Candidate],
    embedder: Embedder,
    word_weights: Mapping[str, float] | None = None,
    context: Context | None = None,
) -> list[Candidate]:
    """The pool scored against the question, best first: relevance, plus WINDOW_WEIGHT x the
    share of the question's key words that the sentence and its neighbours hold (a sentence whose
    neighbours name what the question is about is more likely the one it asks after: "the force
    between nucleons" over a sentence on forces in general), plus the rank bonus."""
    scores = relevance(question, [c.judged for c in pool], embedder, word_weights, context)
    around = [window_share(question, c.window, word_weights) for c in pool]
    if context is not None:  # a follow-up: its conversation counts as in relevance()
        shared = [window_share(context.question, c.window, context.word_weights) for c in pool]
        around = [a + CONTEXT_WEIGHT * b for a, b in zip(around, shared)]
    ranked = [
        Candidate(c.sentence, c.n, c.position, s + WINDOW_WEIGHT * a + rank_bonus(c.n), c.window, c.of)
        for c, s, a in zip(pool, scores, around)
    ]
    ranked.sort(key=lambda c: -c.score)
    return ranked


def window_share(question: str, window: str, word_weights: Mapping[str, float] | None) -> float:
    """The weighted share of the question's key words that a sentence and its neighbours hold."""
    asked = content_words(question)
    weights = {w: (word_weights or {}).get(w, 1.0) for w in asked}
    total = sum(weights.values())
    return sum(weights[w] for w in asked & content_words(window)) / total if total else 0.0


@dataclass
class Composed:
    """The quoted answer: its sentences in reading order, and a line saying what it is, if needed."""

    quotes: list[Quote] = field(default_factory=list)
    lead: str = ""
    best_score: float = 0.0


def compose(
    question: str,
    hits: Sequence[Hit],
    embedder: Embedder,
    gate: float,
    word_weights: Mapping[str, float] | None = None,
    context: Context | None = None,
) -> Composed:
    """The sentences that answer the question, one part at a time; empty when none does."""
    pool = candidates(hits)
    if not pool:
        return Composed()
    parts = question_parts(question)
    known = {n: _named_within(hit.passage.text) for n, hit in enumerate(hits, start=1)}
    # What a sentence is read with when the question's numbers and picking words are looked for:
    # its neighbours, and its document's title, file name and period (a quarterly report's
    # figures are of its quarter, which the question names as "Q1 2024" or "the first quarter").
    around = {}
    for c in pool:
        p = hits[c.n - 1].passage
        around[c.n, c.position] = f"{c.window} {p.headline} {p.source.rsplit('/', 1)[-1]} {p.dated} {p.quarter}"
    dated = {n for n, hit in enumerate(hits, start=1) if hit.passage.dated}
    chosen: list[Candidate] = []
    best = 0.0
    for i, part in enumerate(parts):
        # A one-part question is judged as asked (with its conversation); a part on its own words.
        ranked = scored(part, pool, embedder, word_weights, context if len(parts) == 1 else None)
        if i == 0:
            best = ranked[0].score
        kind = answer_type(part)
        needed = gate if i == 0 else gate * PART_GATE_SHARE
        undated_part = without_periods(part) if dated else part

        def answers(c: Candidate) -> bool:
            attached = undated_part if c.n in dated else part
            return holds_type(c.sentence, kind, part, True, known[c.n]) and says_what_is_asked(attached, around[c.n, c.position])

        pick = next((c for c in ranked if c.score >= needed and answers(c)), None)
        if pick is None:
            if i == 0 and len(parts) == 1:
                return Composed(best_score=best)
            continue
        if any(c.n == pick.n and c.position == pick.position for c in chosen):
            continue  # one sentence answers two parts
        chosen.append(pick)
        companion = next(
            (c for c in ranked if c.n == pick.n and c.position != pick.position and c.score >= COMPANION_SHARE * pick.score
             and answers(c)),
            None,
        )
        if companion is not None and not any(c.n == companion.n and c.position == companion.position for c in chosen):
            chosen.append(companion)
    if not chosen:
        return Composed(best_score=best)
    # Sentences of one passage read in its order; passages in the order their first sentence was chosen.
    first_of = {}
    for rank, c in enumerate(chosen):
        first_of.setdefault(c.n, rank)
    chosen.sort(key=lambda c: (first_of[c.n], c.position))
    return Composed([Quote(c.sentence, c.n, c.score) for c in chosen], best_score=best)


# --- overviews -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OverviewRequest:
    """What an overview is asked of: a document or subject, and optionally a topic within it."""

    subject: str
    topic: str = ""
    steps: bool = False  # "What should I do on day one?": the one section that answers, as a list


def overview_request(question: str) -> OverviewRequest | None:
    """The overview a question asks for, or None for a question about one fact."""
    match = _SAYS_ABOUT.match(question)
    if match:
        return OverviewRequest(match.group("what"), match.group("about"))
    match = _OVERVIEW.match(question)
    if match:
        return OverviewRequest(match.group("what"))
    if _LIST_QUESTION.match(question):
        return OverviewRequest(question, steps=True)
    return None


def section_sentences(passages: Sequence[Passage]) -> list[tuple[str, list[list[tuple[Passage, str]]]]]:
    """A document's passages grouped by heading, in document order:
    (heading, its paragraphs, each a list of (passage, sentence))."""
    sections: list[tuple[str, list[list[tuple[Passage, str]]]]] = []
    for passage in sorted(passages, key=lambda p: (p.page or 0, p.start)):
        title = passage.title.strip().rstrip(".").lower()
        heading = passage.heading or passage.title
        if not sections or sections[-1][0] != heading:
            sections.append((heading, []))
        for block in re.split(r"\n\s*\n", passage.text):
            sentences = [
                s for s in split_sentences(block)
                if len(s.split()) >= MIN_WORDS and not s.startswith("#") and s.strip().rstrip(".").lower() != title
                and s.rstrip().endswith((".", "!", "?", ":"))  # a line without a full stop is a heading
            ]
            if sentences:
                sections[-1][1].append([(passage, s) for s in sentences])
    return [(heading, paragraphs) for heading, paragraphs in sections if paragraphs]


def key_sentences(sections, title: str) -> list[tuple[Passage, str]]:
    """An overview: the opening sentence of each section (where a section says what it is about),
    or of each paragraph when the document has no sections; the untitled start of a document
    with sections (owner, date of review) is left out."""
    if len(sections) > 1:
        sections = [(h, ps) for h, ps in sections if h != title] or sections
    if len(sections) >= 3:
        return [paragraphs[0][0] for _, paragraphs in sections[:OVERVIEW_SECTIONS]]
    return [paragraph[0] for _, paragraphs in sections for paragraph in paragraphs][:OVERVIEW_SECTIONS]


def _subject_score(subject: str, passage: Passage) -> int:
    """How many of the subject's key words the document's title and file name hold."""
    named = content_words(f"{passage.title} {passage.source.replace('-', ' ').replace('_', ' ').replace('/', ' ')}")
    return len(content_words(subject) & named)


def summarise(
    request: OverviewRequest, hits: Sequence[Hit], store, embedder: Embedder, word_weights: Mapping[str, float] | None = None
):
    """The overview asked for, from the document of the retrieved passages it names:
    (passages shown, quotes citing them, a line saying what was summarised), or None when the
    question names nothing the hits come from (it is then answered as a question of fact)."""
    if request.steps:
        # The section that answers: the retrieved passage whose heading is closest to the question.
        # A heading that is only the document's title is no section: the opening of a whole
        # article is not what happens when something happens.
        headed = [h for h in hits if h.passage.heading and h.passage.heading != h.passage.title]
        if not headed:
            return None
        # A heading may name the question ("Day one"), or only the section's text may ("Responding
        # to a page" for "What happens if I am paged at night?"): the closer of the two counts.
        by_heading = relevance(request.subject, [h.passage.heading.split(" \u203a ")[-1] for h in headed], embedder)
        by_text = relevance(request.subject, [f"{h.passage.headline}\n{h.passage.text}" for h in headed], embedder, word_weights)
        closeness = [max(a, b) for a, b in zip(by_heading, by_text)]
        best = max(range(len(headed)), key=lambda i: closeness[i])
        if closeness[best] < HEADING_CLOSENESS:
            return None
        target = headed[best].passage
        passages = [p for p in store.passages_of(target.doc_id) if p.heading == target.heading]
        sections = section_sentences(passages or [target])
        picked = [m for _, paragraphs in sections for paragraph in paragraphs for m in paragraph][:SECTION_SENTENCES]
        lead = f"From {target.headline}:"
        return _numbered(picked, lead)
    documents = {}
    for hit in hits:
        documents.setdefault(hit.passage.doc_id, hit.passage)
    scores = {doc_id: _subject_score(request.subject, p) for doc_id, p in documents.items()}
    doc_id = max(scores, key=lambda d: scores[d]) if scores else None
    if doc_id is None or scores[doc_id] == 0:
        return None
    named = documents[doc_id]
    sections = section_sentences(store.passages_of(doc_id))
    if not sections:
        return None
    if request.topic:
        headings = [h.split(" \u203a ")[-1] for h, _ in sections]
        closeness = relevance(request.topic, headings, embedder)
        best = max(range(len(sections)), key=lambda i: closeness[i])
        if closeness[best] < HEADING_CLOSENESS:
            return None
        members = [m for paragraph in sections[best][1] for m in paragraph]
        lead = f"What {named.title} ({named.source}) says about {headings[best].lower()}:"
        return _numbered(members[:SECTION_SENTENCES], lead)
    picked = key_sentences(sections, named.title)
    lead = f"Summary of {named.title} ({named.source}): the opening sentence of each part, in its order."
    return _numbered(picked, lead)


def _numbered(picked: Sequence[tuple[Passage, str]], lead: str):
    shown: list[Hit] = []
    quotes: list[Quote] = []
    for passage, sentence in picked:
        numbers_of = [h.passage.id for h in shown]
        if passage.id not in numbers_of:
            shown.append(Hit(passage, 0.0))
        n = [h.passage.id for h in shown].index(passage.id) + 1
        quotes.append(Quote(sentence, n, 0.0))
    return (shown, quotes, lead) if quotes else None


def adds_to(sentence: str, question: str, quotes: Sequence[Quote]) -> bool:
    """Whether a checked sentence of the model's is worth showing after the quotes: it holds
    what the question asks for, beyond the question's own words, and is not one of the quotes again."""
    if not holds_type(sentence, answer_type(question), question):
        return False
    words = content_words(sentence)
    folded = _fold(sentence)
    for quote in quotes:
        quoted = content_words(quote.sentence)
        if folded in _fold(quote.sentence) or (words <= quoted and len(words) >= 0.8 * len(quoted)):
            return False  # a piece of a quote, or the quote in other words
    return True


def _fold(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))
