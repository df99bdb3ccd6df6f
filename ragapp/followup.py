"""Follow-up questions: "and for contractors?" is searched with what it refers to.

In a conversation a short or referring question only makes sense with the one before it. Such a
follow-up is searched (and answered) as the previous question followed by the new one; a question
that stands on its own is left alone, so a new topic is not mixed with the old one. No model is
asked: the rules are cheap, predictable and shown to the user as the query that was searched.
"""

from __future__ import annotations

import re

from ragapp.text import content_words

# Openings that continue the previous question rather than start a new one.
_CONTINUES = re.compile(
    r"^\s*(?:and|but|or|also|plus|what about|how about|what of|same for|and what about|and how about)\b",
    re.IGNORECASE,
)
# Words that point back at something named earlier. ("there" is left out: "is there a ...?" is
# usually a question of its own.)
_REFERS = re.compile(
    r"\b(?:it|its|they|them|their|theirs|he|him|his|she|her|hers|this|that|these|those|such|same)\b",
    re.IGNORECASE,
)
# A question with fewer key words than MIN_OWN_WORDS names too little to be searched alone; one
# that refers back and has at most REFERRING_MAX_WORDS key words does too ("what does it cost?").
# Longer questions with a pronoun usually name what it stands for themselves ("do employees keep
# their laptops when they leave?").
MIN_OWN_WORDS = 2
REFERRING_MAX_WORDS = 3


def is_follow_up(question: str) -> bool:
    """Whether the question leans on the one before it."""
    if _CONTINUES.match(question):
        return True
    own_words = len(content_words(question))
    return own_words < MIN_OWN_WORDS or (own_words <= REFERRING_MAX_WORDS and bool(_REFERS.search(question)))


def standalone_question(question: str, previous: str | None) -> str:
    """What to search for: the question itself, or after a follow-up the previous one with it.

    previous: the question searched for in the turn before (itself already standalone).
    """
    question = question.strip()
    previous = (previous or "").strip()
    if not previous or not is_follow_up(question):
        return question
    return f"{previous} {question}"

