import json
from pathlib import Path

from fakes import HashEmbedder

from ragapp.compose import answer_type, holds_type
from ragapp.verify import Verifier, bound, content_supported, split_claims

MEALS = "Expenses. While travelling for work you may claim meals up to a daily allowance of 45 euros."
LEAVE = "Leave policy. Every employee has 28 days of paid annual leave, booked in the HR portal."
LEARNING = "Each employee has a learning budget of 1,500 euros per year for courses and books."


def verifier(*passages: str) -> Verifier:
    return Verifier(HashEmbedder(), list(passages), min_similarity=0.5)


def test_claims_are_split_with_their_citations():
    text = "The allowance is 45 euros. [1] Hotels cost up to 150 euros [2, 3]. Trailing words"
    assert split_claims(text) == [
        ("The allowance is 45 euros.", [1]),
        ("Hotels cost up to 150 euros", [2, 3]),
        ("Trailing words", []),
    ]


def test_a_sentence_its_passage_supports_keeps_its_citation():
    [verdict] = verifier(MEALS, LEAVE).verify("You may claim meals up to a daily allowance of 45 euros. [1]")
    assert verdict.supported and verdict.cited == (1,) and not verdict.moved


def test_a_sentence_citing_the_wrong_passage_is_moved_to_the_one_that_supports_it():
    [verdict] = verifier(MEALS, LEAVE).verify("Every employee has 28 days of paid annual leave. [1]")
    assert verdict.supported and verdict.moved and verdict.cited == (2,)
    assert verdict.render() == "Every employee has 28 days of paid annual leave. [2]"


def test_a_number_the_passage_does_not_hold_is_unsupported():
    [verdict] = verifier(MEALS, LEAVE).verify("You may claim meals up to a daily allowance of 60 euros. [1]")
    assert not verdict.supported


def test_an_invented_sentence_is_unsupported_whatever_it_cites():
    verdicts = verifier(MEALS, LEAVE).verify("The Football World Cup 2022 was won by England. [1]")
    assert [v.supported for v in verdicts] == [False]


def test_a_name_missing_from_the_passage_is_unsupported():
    # All the other words match: only the name is invented.
    assert not content_supported("Maria Lopez may claim meals up to a daily allowance of 45 euros.", MEALS)


def test_an_uncited_sentence_is_never_supported():
    [verdict] = verifier(MEALS).verify("You may claim meals up to a daily allowance of 45 euros.")
    assert not verdict.supported and verdict.cited == ()


def test_a_sentence_close_in_words_but_far_in_meaning_is_unsupported():
    # Content words all occur in the passage, but the sentence says something else: the meaning
    # check (a stricter threshold here) catches what the word check lets through.
    strict = Verifier(HashEmbedder(), [LEAVE], min_similarity=0.9)
    assert content_supported("Leave booked in the HR portal is paid.", LEAVE)
    assert not strict.verify("Leave booked in the HR portal is paid. [1]")[0].supported


def test_thousands_separators_do_not_matter():
    assert content_supported("The learning budget is 1500 euros.", LEARNING)


# Every number and name of each false sentence is in its passage: only what they are attached to differs.
HOTELS = "Hotels may cost up to 150 euros per night, or 220 euros per night in London, Paris and Amsterdam."
PAGING = (
    "If the primary does not acknowledge within 15 minutes, the page goes to the secondary, "
    "and after 30 minutes to the engineering manager."
)
ANCHOR = (
    "Teams meet in the office on their anchor day, which is Tuesday for delivery teams and Thursday "
    "for the platform team; the other days you may work from home or from the office."
)
STIPEND = "Each week on call as primary is paid a stipend of 300 euros; as secondary, 150 euros."
PARENTAL = (
    "Birth parents receive 20 weeks of parental leave at full pay. Partners and adoptive parents receive "
    "8 weeks at full pay, to be taken within the first year after the birth or adoption."
)
HOME_OFFICE = (
    "Each employee can claim a one-off home office budget of 400 euros in their first year for a desk, "
    "a chair or a monitor, and 100 euros per year after that for replacements."
)
RECOMBINED = [
    (HOTELS, "A hotel can cost up to 150 euros per night in Paris, with a one-night room costing 220 euros."),
    (HOTELS, "In Amsterdam a hotel may cost 150 euros per night."),
    (PAGING, "Acknowledge a page within 30 minutes."),
    (ANCHOR, "The anchor day is Thursday for delivery teams."),
    (STIPEND, "The secondary is paid 300 euros a week."),
    (PARENTAL, "Partners receive 20 weeks of parental leave."),
    (HOME_OFFICE, "The home office budget in the first year and after that is 400 euros."),
]
PARAPHRASES = [
    (HOTELS, "Hotels in Paris may cost up to 220 euros per night."),
    (HOTELS, "Hotels cost up to 150 euros a night, or 220 in London, Paris and Amsterdam."),
    (HOTELS, "In Amsterdam a hotel may cost 220 euros per night."),
    (PAGING, "After 30 minutes the page goes to the engineering manager."),
    (ANCHOR, "The anchor day for delivery teams is Tuesday."),
    (ANCHOR, "Platform teams meet on Thursday."),
    (STIPEND, "As secondary you get 150 euros."),
    (PARENTAL, "Adoptive parents receive 8 weeks at full pay."),
    (HOME_OFFICE, "The home office budget is 400 euros in the first year."),
]


def test_a_number_or_name_attached_to_something_else_is_caught():
    for passage, sentence in RECOMBINED:
        assert not bound(sentence, passage), sentence


def test_true_paraphrases_keep_their_numbers_and_names_bound():
    for passage, sentence in PARAPHRASES:
        assert bound(sentence, passage), sentence


def test_the_verifier_withholds_the_recombined_hotel_price():
    [verdict] = Verifier(HashEmbedder(), [HOTELS], min_similarity=0.3).verify(
        "A hotel can cost up to 150 euros per night in Paris. [1]"
    )
    assert not verdict.supported


JUDGED = Path(__file__).parent / "data" / "judged-sentences.jsonl"


def test_sentences_judged_by_reading_are_shown_only_when_true():
    """Sentences of the model's on the sample handbook, each read against its passage and judged:
    the true ones pass the content and binding checks, the false ones are stopped by them or by
    the rule that an answer must say more than the question."""
    rows = [json.loads(line) for line in JUDGED.read_text().splitlines() if line.strip()]
    assert sum(r["true"] for r in rows) >= 5 and sum(not r["true"] for r in rows) >= 4
    for row in rows:
        sentence, passage, question = row["sentence"], row["passage"], row["question"]
        shown = (
            content_supported(sentence, passage) and bound(sentence, passage)
            and holds_type(sentence, answer_type(question), question)
        )
        assert shown == row["true"], row
