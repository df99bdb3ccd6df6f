"""Follow-up questions are searched with the question they follow; new topics stand alone."""

from fakes import HashEmbedder, ScriptedGenerator

from ragapp.followup import is_follow_up, standalone_question
from ragapp.pipeline import Pipeline
from ragapp.retriever import retrieve

LEAVE = "How many days of annual leave do employees get?"


def test_short_or_continuing_questions_are_follow_ups():
    for question in ("And for contractors?", "What about interns?", "what does it cost?", "Who approves it?", "Contractors?"):
        assert is_follow_up(question), question
    for question in (
        "What is the daily meal allowance when travelling?",
        "Do employees keep their laptops when they leave?",
        "Is it possible to carry over unused days?",
    ):
        assert not is_follow_up(question), question


def test_a_follow_up_is_searched_with_the_previous_question_and_a_new_topic_alone():
    assert standalone_question("And for contractors?", LEAVE) == f"{LEAVE} And for contractors?"
    new_topic = "What do contractors bring as equipment?"
    assert standalone_question(new_topic, LEAVE) == new_topic
    assert standalone_question("And for contractors?", None) == "And for contractors?"


def _folder(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "leave.md").write_text(
        "# Leave\n\nEmployees receive 27 days of annual leave a year. "
        "Contractors receive no paid annual leave days; they invoice the days they work.\n"
    )
    (folder / "equipment.md").write_text(
        "# Equipment\n\nContractors bring their own laptop. Contractors also bring their own phone.\n"
    )
    return folder


def test_a_follow_up_finds_what_the_bare_follow_up_would_not(settings, tmp_path):
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    pipeline.ingest([_folder(tmp_path)])
    store = pipeline.store()
    bare = retrieve("And for contractors?", pipeline.embedder, store, 1)
    assert bare[0].passage.source == "equipment.md"  # "contractors" alone points at the wrong page

    first = pipeline.ask(LEAVE)
    assert first.query == LEAVE
    follow_up = pipeline.ask("And for contractors?", follows=first.query)
    assert follow_up.question == "And for contractors?"
    assert follow_up.query == f"{LEAVE} And for contractors?"
    assert follow_up.hits[0].passage.source == "leave.md"

    # A question of its own after that is searched as it is: the leave topic does not leak in.
    new_topic = pipeline.ask("What do contractors bring as equipment, laptop or phone?", follows=follow_up.query)
    assert new_topic.query == "What do contractors bring as equipment, laptop or phone?"
    assert new_topic.hits[0].passage.source == "equipment.md"


def test_the_answer_to_a_follow_up_is_about_what_it_asks(settings, tmp_path):
    # The model's reply cites nothing, so the answer is the passage sentence that best answers.
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator("I am not sure."))
    pipeline.ingest([_folder(tmp_path)])
    first = pipeline.ask(LEAVE)
    assert "Employees receive 27 days" in first.text
    follow_up = pipeline.ask("And for contractors?", follows=first.query)
    assert "Contractors receive no paid annual leave" in follow_up.text, follow_up.text
