"""One analysis of words, shared by retrieval, the relevance gate and the verifier.

- query_words: every meaningful word of a question, as the word index is searched with them;
- content_words: the key words of a text (stemmed, three letters or more), which retrieval and the
  gate count in a passage or sentence, and which the verifier looks for in a cited passage;
- names and numbers: what a checked sentence may never add to its passage.

Words are Unicode: a word is a run of letters of any script ("Graubünden", "отпуск", "άδεια"),
compared in one form (NFKC, case folded, without the accents of Latin letters, as the word index
folds them: "Beyoncé" meets "Beyonce"). Chinese and Japanese, written without spaces, count each
pair of neighbouring Han or kana characters as a word ("年假" in "员工年假"), as word indexes for
those languages commonly do. Only Latin-script words are stemmed (the stemmer is English); stop
words are English. Plain ASCII text gives the words of ASCII letters it always gave, on which the
word index and the relevance gate were tuned.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

# Words that carry no meaning of their own: left out of word searches, where they would match nearly
# every passage, and out of the key words that are counted.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just me more most my no nor not
    now of off on once only or other our out over own same she should so some such than that the their
    them then there these they this those through to too under until up very was we were what when where
    which while who whom whose why will with would you your""".split()
)
# Words of questions about documents and of the model's answers ("the passage says", "yes"): not key
# words of what is asked or stated, though a word search for them is harmless.
ANSWER_WORDS = frozenset("answer question passage passages document documents per yes".split())

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Han characters (with the iteration mark) and kana: scripts written without spaces between words.
_UNSPACED = "\u3005\u3041-\u309f\u30a1-\u30fa\u30fc-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# A word: a run of unspaced characters, or of other letters (\w without digits and underscore).
_LETTERS = re.compile(f"[{_UNSPACED}]+|[^\\W\\d_{_UNSPACED}]+")
_UNSPACED_RUN = re.compile(f"[{_UNSPACED}]")
_ASCII_LETTERS = re.compile(r"[a-z]+")
# Scripts where one character is a syllable or a word (with Hangul): their short words count as key words.
_SYLLABIC = re.compile(f"[{_UNSPACED}\uac00-\ud7a3]")
# Latin letters after folding (a-z with what has no accent to take off: ß, æ, ø, ł, ...): stemmed.
_LATIN = re.compile(r"[a-z\u00df-\u00f6\u00f8-\u024f\u1e00-\u1eff]+")
_LATIN_ACCENTS = re.compile(r"(?<=[a-z])[\u0300-\u036f]+")  # combining marks on a decomposed Latin letter
# A capitalised word (checked by its first letter) that is not at the start of a sentence.
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[^\W\d_]{2,}")
_ASCII_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")


def query_words(text: str) -> list[str]:
    """The text's meaningful words, lower case, each once, in order: what a word search looks for."""
    words: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word not in STOPWORDS and word not in words:
            words.append(word)
    return words


def is_word(text: str) -> bool:
    """One word as query_words makes them (safe to quote in a full-text query)."""
    return bool(_WORD.fullmatch(text))


_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The word's stem (Snowball's English stemmer, "Porter2"): "paged" meets "page", "receipts"
    "receipt", "identifies" "identify". Cached: the same words are stemmed for every question."""
    return _STEMMER.stemWord(word)


def fold(text: str) -> str:
    """The text in the one form words are compared in: NFKC, case folded, Latin letters without
    accents ("Graubünden" -> "graubunden", "ﬁle" -> "file"). ASCII text is only lower-cased."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", _LATIN_ACCENTS.sub("", decomposed))


def key(word: str) -> str:
    """A folded word as it is counted: stemmed when it is a Latin-script word, else as it is."""
    return stem(word) if word.isascii() or _LATIN.fullmatch(word) else word


def _words(text: str) -> list[str]:
    """The folded words of the text; a run of Han or kana gives its pairs of neighbouring characters."""
    if text.isascii():  # most text: the same words, found faster
        return _ASCII_LETTERS.findall(text.lower())
    words = []
    for run in _LETTERS.findall(fold(text)):
        if len(run) > 1 and _UNSPACED_RUN.match(run):
            words.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            words.append(run)
    return words


def content_words(text: str) -> set[str]:
    """The text's key words: stemmed, of three letters or more (or Han, kana or Hangul), without stop words."""
    return {
        key(w)
        for w in _words(text)
        if (len(w) > 2 or _SYLLABIC.match(w)) and w not in STOPWORDS and w not in ANSWER_WORDS
    }


def letter_words(text: str) -> set[str]:
    """Every word of letters in the text, stemmed (where a name is looked for)."""
    return {key(w) for w in _words(text)}


def numbers(text: str) -> set[str]:
    """The numbers of a text, thousands separators dropped: "84,000" and "84000" are one number."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def names(text: str) -> set[str]:
    """Capitalised words that are not at the start of a sentence: names of people, places, things."""
    text = text.strip()
    if text.isascii():  # most text: the same names, found faster
        found = {n.lower() for n in _ASCII_NAME.findall(text)}
    else:
        found = {fold(n) for n in _NAME.findall(unicodedata.normalize("NFKC", text)) if n[0].isupper()}
    return {key(n) for n in found - STOPWORDS - ANSWER_WORDS}
