from ragapp.verify import split_claims, supported

PASSAGE = "While travelling for work you may claim meals up to a daily allowance of 45 euros."


def test_claims_are_split_with_their_citations():
    text = "The allowance is 45 euros. [1] Hotels cost up to 150 euros [2, 3]. Trailing words"
    assert split_claims(text) == [
        ("The allowance is 45 euros.", [1]),
        ("Hotels cost up to 150 euros", [2, 3]),
        ("Trailing words", []),
    ]


def test_supported_sentence():
    assert supported("The daily meal allowance when travelling is 45 euros.", [PASSAGE])


def test_number_mismatch_is_unsupported():
    assert not supported("The daily meal allowance when travelling is 60 euros.", [PASSAGE])


def test_unrelated_sentence_is_unsupported():
    assert not supported("The Football World Cup 2022 was won by England.", [PASSAGE])


def test_thousands_separators_do_not_matter():
    assert supported("The learning budget is 1500 euros.", ["a learning budget of 1,500 euros per year"])
