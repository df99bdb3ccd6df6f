"""One analysis of words, shared by retrieval, the relevance gate and the verifier.

- query_words: every meaningful word of a question, as the word index is searched with them;
- content_words: the key words of a text (stemmed, three letters or more), which retrieval and the
  gate count in a passage or sentence, and which the verifier looks for in a cited passage;
- names and numbers: what a checked sentence may never add to its passage.
"""

from __future__ import annotations

import re
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
_LETTERS = re.compile(r"[a-z]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z]+")


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


def content_words(text: str) -> set[str]:
    """The text's key words: stemmed, of three letters or more, without stop words."""
    return {stem(w) for w in _LETTERS.findall(text.lower()) if len(w) > 2 and w not in STOPWORDS and w not in ANSWER_WORDS}


def letter_words(text: str) -> set[str]:
    """Every word of letters in the text, stemmed (where a name is looked for)."""
    return {stem(w) for w in _LETTERS.findall(text.lower())}


def numbers(text: str) -> set[str]:
    """The numbers of a text, thousands separators dropped: "84,000" and "84000" are one number."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def names(text: str) -> set[str]:
    """Capitalised words that are not at the start of a sentence: names of people, places, things."""
    found = {n.lower() for n in _NAME.findall(text.strip())}
    return {stem(n) for n in found - STOPWORDS - ANSWER_WORDS}
