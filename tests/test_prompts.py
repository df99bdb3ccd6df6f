from ragapp.documents import Hit, Passage
from ragapp.prompts import REFUSAL, answer_grammar, build_messages, cited_numbers, is_refusal


def _hit(n: int, words: int) -> Hit:
    text = " ".join(f"word{n}" for _ in range(words))
    return Hit(Passage(f"id{n}", "d", text, f"f{n}.md", "/x", "T", None, 0, len(text), "h", n), 1.0 - n / 10)


def count(text: str) -> int:
    return len(text.split())


def test_passages_are_numbered_best_first_and_fit_the_budget():
    hits = [_hit(i, 100) for i in range(5)]
    messages, shown = build_messages("what?", hits, count, budget_tokens=350)
    assert 1 <= len(shown) < 5
    assert shown == hits[: len(shown)]
    user = messages[-1]["content"]
    assert "[1] word0" in user and f"[{len(shown) + 1}]" not in user
    assert user.startswith("Question: what?") and user.endswith("Question: what?")
    assert sum(count(m["content"]) for m in messages) <= 350


def test_instruction_asks_for_citations_and_an_honest_refusal():
    messages, _ = build_messages("q", [_hit(1, 3)], count, 1000)
    assert "[1]" in messages[0]["content"] and REFUSAL in messages[0]["content"]


def test_cited_numbers_in_order_without_repeats():
    assert cited_numbers("A [2]. B [1, 3]. C [2].") == [2, 1, 3]
    assert cited_numbers("no citations") == []


def test_refusals_are_recognised():
    assert is_refusal(REFUSAL)
    assert is_refusal("Sorry, the documents do not contain that information.")
    assert is_refusal("")
    assert not is_refusal("You get 27 days of leave [1].")


def test_grammar_allows_only_the_passages_shown():
    grammar = answer_grammar(3)
    assert 'number ::= "1" | "2" | "3"' in grammar
    assert '"4"' not in grammar
    assert REFUSAL in grammar
