from fakes import HashEmbedder

from ragapp.verify import Verifier, content_supported, split_claims

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
