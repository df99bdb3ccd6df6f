"""The quoted answer: parts of a question, what kind of answer each asks for, overviews."""

from ragapp.compose import AMOUNT, PERSON, TIME, answer_type, holds_type, overview_request, question_parts


def test_a_question_of_two_parts_is_split_where_it_asks_the_second_thing():
    assert question_parts("What is the daily meal allowance when travelling, and do I need receipts?") == [
        "What is the daily meal allowance when travelling",
        "do I need receipts",
    ]
    assert question_parts("How much is dental care covered, and what about glasses?")[1] == "what about glasses"
    assert question_parts("When is the bonus paid? And how much is it?") == ["When is the bonus paid", "how much is it"]
    # "and" inside one question joins what it asks about, not two questions.
    for whole in ("How much is the on-call stipend for primary and for secondary?", "What do contractors bring, laptop or phone?"):
        assert question_parts(whole) == [whole]


def test_each_kind_of_question_needs_its_kind_of_answer():
    assert answer_type("Who is the CEO of Fernhill Analytics?") == PERSON
    assert answer_type("When are salaries reviewed?") == TIME
    assert answer_type("How much may a hotel cost per night in Paris?") == AMOUNT
    assert answer_type("What is the dress code?") is None
    ceo = "Who is the CEO of Fernhill Analytics?"
    assert not holds_type("Welcome to Fernhill Analytics.", PERSON, ceo)
    assert holds_type("Fernhill Analytics is led by Ana Duarte, its chief executive.", PERSON, ceo)
    assert not holds_type("Welcome to Fernhill Analytics.", TIME, "When was Fernhill Analytics founded?")
    assert holds_type("Salaries are reviewed once a year in April.", TIME, "When are salaries reviewed?")
    assert not holds_type("Hotels are booked through TravelDesk.", AMOUNT, "How much may a hotel cost?")


def test_a_sentence_that_only_says_the_question_back_answers_nothing():
    question = "Can I work from another country for a month?"
    assert not holds_type("Yes, you can work from another country for a month.", None, question)
    assert holds_type("You may work from another country for up to 20 working days per calendar year.", None, question)


def test_overviews_are_told_from_questions_of_fact():
    assert overview_request("Summarise the expenses policy").subject == "the expenses policy"
    about = overview_request("What does the leave policy say about sick leave?")
    assert (about.subject, about.topic) == ("leave policy", "sick leave")
    assert overview_request("What should I do on day one?").steps
    assert overview_request("What is the daily meal allowance?") is None


def test_a_name_opening_the_answer_counts_when_its_passage_names_it_elsewhere():
    question = "Who was the director of the American Geographical Society in 1914?"
    sentence = "Bowman was the director of the American Geographical Society in 1914."
    assert not holds_type(sentence, PERSON, question, quoted=True)
    assert holds_type(sentence, PERSON, question, quoted=True, known_names={"bowman", "isaiah"})
    assert not holds_type("Welcome to the American Geographical Society.", PERSON, question, True, {"american"})


def test_a_question_opening_with_a_clause_asks_what_its_main_clause_asks():
    assert answer_type("When Iqbal promoted ideas of Islamic unity, what did he encourage ending?") is None
    assert answer_type("When did Iqbal promote ideas of Islamic unity?") == TIME


def test_a_word_opening_a_line_is_not_taken_for_a_name():
    from ragapp.compose import _named_within
    from ragapp.text import stem

    passage = "Owner: People Operations.\n\nWelcome to Fernhill Analytics. The geographer Isaiah Bowman led it."
    assert {stem(w) for w in ("isaiah", "bowman", "fernhill", "analytics")} <= _named_within(passage)
    assert stem("welcome") not in _named_within(passage)


def test_what_happens_is_not_answered_with_the_opening_of_a_document_without_sections():
    from fakes import HashEmbedder

    from ragapp.compose import summarise
    from ragapp.documents import Hit, Passage

    def passage(n: int, text: str, heading: str) -> Passage:
        return Passage(id=f"p{n}", doc_id="d1", text=text, source="immune_system.md", path="/docs/immune_system.md",
                       title="Immune system", page=None, start=n * 100, end=n * 100 + len(text), content_hash="h",
                       index=n, heading=heading)

    article = [passage(0, "The immune system is a system of many biological structures that protects against disease. "
                          "Tyrosinase is expressed at low levels in most cells.", "Immune system")]

    class Store:
        def passages_of(self, doc_id):
            return article

    request = overview_request("What happens when tyrosinase is expressed at low levels?")
    assert request is not None and request.steps
    # The only heading is the document's title: there is no section that answers, so the question is
    # answered as one of fact (from its sentences), not with the article's first sentences.
    assert summarise(request, [Hit(article[0], 0.9)], Store(), HashEmbedder()) is None


def test_an_answer_holds_the_number_and_the_picking_word_the_question_attaches_it_to():
    from ragapp.compose import says_what_is_asked

    population = "What was Warsaw's population in 1901?"
    assert not says_what_is_asked(population, "Its population is estimated at 1.740 million residents.")
    assert says_what_is_asked(population, "In 1901 the city had 711,988 inhabitants.")
    # A year the document's title gives ("Annual report 2024") counts: the text reads with it.
    assert says_what_is_asked("What was revenue in 2024?", "Revenue rose to 817 million. Annual report 2024")
    least = "What is the least used type of reduction?"
    assert not says_what_is_asked(least, "The most commonly used reduction is a polynomial-time reduction.")
    assert says_what_is_asked(least, "Log-space reductions are the least used of them.")
    assert not says_what_is_asked("When did the first French Bible appear?", "He published the whole Bible in French in 1530.")
    assert says_what_is_asked("What is the dress code?", "There is no dress code.")
    assert says_what_is_asked("What did India's mostly Hindu population fear?", "Iqbal feared that Hindus would ...")
    # A number said in words, or a century for its hundred, is the same number.
    assert says_what_is_asked("Who was Genghis's 3rd son?", "Under the reign of Genghis' third son, \u00d6gedei Khan, ...")
    assert says_what_is_asked("How many Huguenots fled France by the 1700s?", "500,000 had fled by the early 18th century.")
    assert not says_what_is_asked("How many Huguenots fled France by the 1700s?", "500,000 had fled by the 17th century.")


def test_a_count_is_not_answered_by_a_year():
    eliot = "How many students did Charles William Eliot teach throughout his tenure at Harvard?"
    tenure = "President Charles W. Eliot's long tenure (1869\u20131909) transformed the college."
    assert not holds_type(tenure, AMOUNT, eliot, quoted=True)
    assert holds_type("Eliot taught 1,500 students in 1870.", AMOUNT, eliot, quoted=True)
    # Years counted, or a length of time, are answered by years.
    assert holds_type(tenure, AMOUNT, "How many years did Eliot's tenure last?", quoted=True)
    assert holds_type("The theatre was in operation from 1870 to 1939.", AMOUNT, "How long was the theatre in operation?", quoted=True)


def test_what_someone_did_is_not_a_figure_question():
    assert answer_type("What did Saudi Arabia try to repress to compensate for its loss of stature?") is None
    assert answer_type("What was Acme's net loss in 2024?") == AMOUNT


def test_a_sentence_announcing_what_follows_is_not_quoted_as_an_answer():
    from ragapp.compose import candidates
    from ragapp.documents import Hit, Passage

    text = "An example of a decision problem is the following. Is a given number prime? The rules are:"
    hit = Hit(Passage(id="p", doc_id="d", text=text, source="c.md", path="/c.md", title="Complexity", page=None,
                      start=0, end=len(text), content_hash="h", index=0), 1.0)
    assert [c.sentence for c in candidates([hit])] == ["Is a given number prime?"]
