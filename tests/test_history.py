"""Conversation history: what a user sees of their own conversations, and never of anyone else's."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from ragapp.documents import Answer, Citation, Hit, Passage, Timings
from ragapp.history import History, answer_from_record, answer_to_record


def passage(n: int, page: int | None = 3, heading: str = "Handbook › Expenses") -> Passage:
    return Passage(
        id=f"p{n}", doc_id="d1", text=f"Passage {n} text about travel.", source="handbook.pdf",
        path="/docs/handbook.pdf", title="Handbook", page=page, start=100 * n, end=100 * n + 42,
        content_hash="abc", index=n, heading=heading,
    )


def answer(question: str, text: str, **kw) -> Answer:
    defaults = dict(
        citations=[Citation(1, passage(1)), Citation(2, passage(2, page=None, heading=""))],
        refused=False,
        timings=Timings(retrieval_s=0.125, first_token_s=None, total_s=1.5),
        hits=[Hit(passage(1), 0.91), Hit(passage(2, page=None), 0.5)],
        path="generated", withheld=2, related=[Hit(passage(7, page=12), 0.4375)], query=f"q: {question}",
    )
    defaults.update(kw)
    return Answer(question=question, text=text, **defaults)


@pytest.fixture
def history(tmp_path: Path) -> History:
    h = History(tmp_path / "sub" / "app.db")  # the folder does not exist yet
    yield h
    h.close()


def ask(history: History, owner: str, collection: str, question: str, text: str = "An answer.") -> int:
    cid = history.start(owner, collection, question)
    history.add_turn(owner, cid, question, answer(question, text))
    return cid


def test_turns_come_back_in_order_and_equal(history: History) -> None:
    first = answer("How much per diem?", "Forty euros a day [1].")
    second = answer("And abroad?", "Nothing found.", citations=[], refused=True, path="declined", withheld=0,
                    timings=Timings(0.2, 0.75, 0.9))
    cid = history.start("alice", "hr", "How much per diem?")
    history.add_turn("alice", cid, "How much per diem?", first)
    history.add_turn("alice", cid, "And abroad?", second)

    turns = history.turns("alice", cid)
    assert [t.question for t in turns] == ["How much per diem?", "And abroad?"]
    assert turns[0].answer == first and turns[1].answer == second
    assert turns[0].asked_at <= turns[1].asked_at
    cited = turns[0].answer.citations[0].passage
    assert (cited.page, cited.start, cited.end, cited.heading) == (3, 100, 142, "Handbook › Expenses")
    assert turns[0].answer.citations[1].passage.page is None
    assert turns[0].answer.related[0].score == 0.4375 and turns[0].answer.related[0].passage.page == 12
    assert turns[1].answer.path == "declined" and turns[1].answer.refused
    assert turns[1].answer.timings.first_token_s == 0.75


def test_record_round_trip_is_json() -> None:
    a = answer("Q?", "A.")
    assert answer_from_record(json.loads(json.dumps(answer_to_record(a)))) == a


def test_list_newest_first_with_title_and_count(history: History) -> None:
    long_q = "Why " + "very " * 30 + "long?"
    old = ask(history, "alice", "hr", long_q)
    new = ask(history, "alice", "hr", "Second question?")
    listed = history.conversations("alice")
    assert [c.id for c in listed] == [new, old]
    assert listed[1].title == long_q[:80] and len(listed[1].title) == 80
    assert listed[0].turns == 1 and listed[0].collection == "hr" and listed[0].owner == "alice"

    time.sleep(0.01)
    history.add_turn("alice", old, "Follow-up?", answer("Follow-up?", "Yes."))  # bumps it to the top
    listed = history.conversations("alice")
    assert [c.id for c in listed] == [old, new]
    assert listed[0].turns == 2 and listed[0].updated_at > listed[0].created_at
    assert len(history.conversations("alice", limit=1)) == 1


def test_search_questions_and_answers(history: History) -> None:
    visa = ask(history, "alice", "hr", "Do I need a VISA for Japan?", "Check with the embassy.")
    pay = ask(history, "alice", "hr", "When is payday?", "On the last Friday of the month.")
    pct = ask(history, "alice", "hr", "What is the raise?", "A 3% raise, under_score and back\\slash.")

    def found(text: str) -> list[int]:
        return [c.id for c in history.conversations("alice", search=text)]

    assert found("visa") == [visa]  # case-insensitive, in a question
    assert found("EMBASSY") == [visa]  # only in an answer
    assert found("friday") == [pay]
    assert found("%") == [pct]  # literal, not a wildcard
    assert found("_") == [pct]
    assert found("\\") == [pct]
    assert found("nothing like this") == []
    assert set(found("")) == {visa, pay, pct}


def test_search_is_case_insensitive_beyond_ascii(history: History) -> None:
    cid = ask(history, "alice", "hr", "Ärger mit der Reisekostenabrechnung?")
    assert [c.id for c in history.conversations("alice", search="ärger")] == [cid]


def test_other_users_cannot_touch_a_conversation(history: History) -> None:
    cid = ask(history, "alice", "hr", "Secret salary question?", "Secret answer.")
    assert history.conversations("bob") == []
    assert history.conversations("bob", search="secret") == []
    assert history.turns("bob", cid) == []
    with pytest.raises(KeyError):
        history.add_turn("bob", cid, "Sneaky?", answer("Sneaky?", "No."))
    assert history.delete("bob", cid) is False
    assert history.delete_all("bob") == 0

    mine = history.conversations("alice")
    assert [c.id for c in mine] == [cid] and mine[0].turns == 1
    assert [t.question for t in history.turns("alice", cid)] == ["Secret salary question?"]


def test_unknown_conversation(history: History) -> None:
    assert history.turns("alice", 999) == []
    assert history.delete("alice", 999) is False
    with pytest.raises(KeyError):
        history.add_turn("alice", 999, "Q?", answer("Q?", "A."))


def test_collections_filter(history: History) -> None:
    hr = ask(history, "alice", "hr", "Holidays?")
    eng = ask(history, "alice", "eng", "Deploys?")
    ask(history, "alice", "legal", "Contracts?")
    assert [c.id for c in history.conversations("alice", collections=["hr"])] == [hr]
    assert {c.id for c in history.conversations("alice", collections=["hr", "eng"])} == {hr, eng}
    assert history.conversations("alice", collections=[]) == []
    assert history.conversations("alice", search="deploys", collections=["hr"]) == []


def test_delete_removes_conversation_and_turns(history: History) -> None:
    keep = ask(history, "alice", "hr", "Keep me?")
    gone = ask(history, "alice", "hr", "Delete me?")
    assert history.delete("alice", gone) is True
    assert history.turns("alice", gone) == []
    assert [c.id for c in history.conversations("alice")] == [keep]
    assert history.delete("alice", gone) is False


def test_delete_all_removes_only_that_owner(history: History) -> None:
    ask(history, "alice", "hr", "One?")
    ask(history, "alice", "eng", "Two?")
    bobs = ask(history, "bob", "hr", "Bob's?")
    assert history.delete_all("alice") == 2
    assert history.conversations("alice") == []
    assert [c.id for c in history.conversations("bob")] == [bobs]
    assert len(history.turns("bob", bobs)) == 1


def test_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    first = History(path)
    cid = ask(first, "alice", "hr", "Remember me?", "I will.")
    first.close()

    again = History(path)
    try:
        assert [c.title for c in again.conversations("alice")] == ["Remember me?"]
        assert again.turns("alice", cid)[0].answer.text == "I will."
    finally:
        again.close()


def test_shares_the_file_with_other_tables(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:  # as the accounts module would have left it
        conn.execute("CREATE TABLE users (name TEXT PRIMARY KEY)")
        conn.execute("INSERT INTO users VALUES ('alice')")
    conn.close()
    h = History(path)
    try:
        ask(h, "alice", "hr", "Q?")
        h.delete_all("alice")
    finally:
        h.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM users").fetchall() == [("alice",)]
    conn.close()


def test_concurrent_turns_are_not_lost(history: History) -> None:
    cid = history.start("alice", "hr", "Busy conversation")
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for i in range(50):
                q = f"{name} question {i}"
                history.add_turn("alice", cid, q, answer(q, f"{name} answer {i}"))
        except BaseException as exc:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    turns = history.turns("alice", cid)
    assert len(turns) == 100 and history.conversations("alice")[0].turns == 100
    for name in ("a", "b"):  # each thread's turns in the order it added them
        assert [t.question for t in turns if t.question.startswith(name)] == [f"{name} question {i}" for i in range(50)]
