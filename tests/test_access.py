"""Accounts, roles, grants and the workspace that enforces them; uploads and history through it;
the fair model queue. Fast: the bag-of-words embedder and a scripted generator."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from ragapp.accounts import LOCAL_USER, AccessDenied, AccountError, Accounts
from ragapp.generator import FairQueue
from ragapp.pipeline import Pipeline
from ragapp.workspace import Workspace, proxy_user, workspace_for

PASSWORD = "correct horse battery"


@pytest.fixture
def team(settings, tmp_path):
    """Two collections (hr, plans), an admin, an editor who writes hr, a reader of hr."""
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    hr, plans = tmp_path / "hr", tmp_path / "plans"
    hr.mkdir(), plans.mkdir()
    (hr / "leave.md").write_text("# Leave\n\nEmployees get 27 days of paid annual leave each year.\n")
    (plans / "merger.md").write_text("# Merger\n\nThe board plans to buy Zephyr Corp for 12 million euros.\n")
    pipeline.ingest([hr], "hr-docs")
    pipeline.ingest([plans], "board-plans")
    accounts = pipeline.accounts
    accounts.add("boss", "admin", PASSWORD)
    accounts.add("ed", "editor", PASSWORD)
    accounts.add("rita", "reader", PASSWORD)
    accounts.grant("ed", "hr-docs", "write")
    accounts.grant("rita", "hr-docs", "read")
    return pipeline


def test_passwords_are_kept_as_bcrypt_hashes_and_a_wrong_one_is_refused(settings):
    accounts = Accounts(settings.app_db_path)
    accounts.add("ann", "reader", PASSWORD)
    assert accounts.authenticate("ann", PASSWORD).name == "ann"
    assert accounts.authenticate("ann", "correct horse batter") is None
    assert accounts.authenticate("ann", "") is None
    assert accounts.authenticate("nobody", PASSWORD) is None
    stored = sqlite3.connect(settings.app_db_path).execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith(b"$2b$") and PASSWORD.encode() not in stored
    with pytest.raises(AccountError, match="at least 8"):
        accounts.add("bob", "reader", "short")


def test_guessing_passwords_locks_the_name_from_that_address_for_a_while(settings, monkeypatch):
    from ragapp import accounts as accounts_module

    accounts = Accounts(settings.app_db_path)
    accounts.add("ann", "admin", PASSWORD)
    accounts.add("bob", "reader", PASSWORD)
    for guess in range(accounts_module.MAX_FAILURES):
        assert accounts.authenticate("ann", f"guess number {guess}", "10.0.0.66") is None
    with pytest.raises(AccountError, match="too many wrong passwords for 'ann' from this address"):
        accounts.authenticate("ann", PASSWORD, "10.0.0.66")  # even the right one, for now
    # Whoever guessed cannot keep ann out: from her own machine she signs in.
    assert accounts.authenticate("ann", PASSWORD, "10.0.0.7").name == "ann"
    assert accounts.authenticate("bob", PASSWORD, "10.0.0.66").name == "bob"  # others are not locked out
    # The counts live in the app's SQLite file: a restarted app still refuses.
    restarted = Accounts(settings.app_db_path)
    with pytest.raises(AccountError, match="try again in"):
        restarted.authenticate("ann", PASSWORD, "10.0.0.66")
    monkeypatch.setattr(accounts_module, "LOCKOUT_S", 0.0)  # the time has passed
    assert restarted.authenticate("ann", PASSWORD, "10.0.0.66").name == "ann"


def test_spraying_one_password_over_many_names_is_limited_per_address(settings):
    from ragapp import accounts as accounts_module

    accounts = Accounts(settings.app_db_path)
    accounts.add("ann", "admin", PASSWORD)
    for number in range(accounts_module.MAX_ADDRESS_FAILURES):
        assert accounts.authenticate(f"user{number}", "Summer2026!", "10.0.0.66") is None
    with pytest.raises(AccountError, match="too many wrong passwords from this address"):
        accounts.authenticate("ann", "Summer2026!", "10.0.0.66")
    assert accounts.authenticate("ann", PASSWORD, "10.0.0.7").name == "ann"


def test_parallel_guesses_do_not_get_past_the_limit(settings):
    """Twenty sign-ins with wrong passwords at once, from two app processes' worth of
    connections: only MAX_FAILURES passwords are ever looked at, the rest are refused."""
    from ragapp import accounts as accounts_module

    Accounts(settings.app_db_path).add("ann", "admin", PASSWORD)
    apps = [Accounts(settings.app_db_path), Accounts(settings.app_db_path)]
    outcomes: list[str] = []
    start = threading.Barrier(20)

    def guess(number: int) -> None:
        start.wait()
        try:
            result = apps[number % 2].authenticate("ann", f"guess {number}", "10.0.0.66")
            outcomes.append("signed in" if result else "wrong")
        except AccountError:
            outcomes.append("refused")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("wrong") == accounts_module.MAX_FAILURES, outcomes
    assert outcomes.count("refused") == 20 - accounts_module.MAX_FAILURES


def test_sign_ins_and_admin_actions_are_in_the_audit_log(team):
    boss = Workspace(team, team.accounts.require("boss"))
    team.accounts.authenticate("rita", "not her password", "10.0.0.66")
    team.accounts.authenticate("rita", PASSWORD, "10.0.0.7")
    boss.add_user("newbie", "reader", PASSWORD)
    boss.grant("newbie", "hr-docs", "read")
    boss.revoke("newbie", "hr-docs")
    boss.set_role("newbie", "editor")
    boss.remove_user("newbie")
    doc = team.store("hr-docs").documents()[0]
    boss.delete_document(doc.doc_id, "hr-docs")
    events = boss.audit_log()
    seen = [(e.actor, e.action, e.target, e.address) for e in reversed(events)]
    assert ("rita", "sign-in failed", "rita", "10.0.0.66") in seen
    assert ("rita", "sign-in", "rita", "10.0.0.7") in seen
    assert [action for actor, action, _t, _a in seen if actor == "boss"] == [
        "account added", "access granted", "access revoked", "role changed", "account removed", "document deleted",
    ]
    assert next(e for e in events if e.action == "document deleted").detail == "leave.md"
    assert next(e for e in events if e.action == "role changed").detail == "reader -> editor"
    # Made on the command line (the fixture's accounts): said so.
    assert any(e.actor == "(command line)" and e.action == "access granted" and e.target == "rita" for e in events)
    assert {e.action for e in boss.audit_log(person="rita")} >= {"sign-in", "sign-in failed", "access granted"}
    with pytest.raises(AccessDenied):
        Workspace(team, team.accounts.require("rita")).audit_log()


def test_the_first_account_is_admin_and_the_last_admin_stays(settings):
    accounts = Accounts(settings.app_db_path)
    first = accounts.add("ann", "reader", PASSWORD)
    assert first.role == "admin"
    assert accounts.add("bob", "reader", PASSWORD).role == "reader"
    with pytest.raises(AccountError, match="last admin"):
        accounts.remove("ann")
    with pytest.raises(AccountError, match="last admin"):
        accounts.set_role("ann", "reader")
    with pytest.raises(AccountError, match="already exists"):
        accounts.add("bob", "editor", PASSWORD)
    with pytest.raises(AccountError, match="meanwhile"):
        accounts.add("carl", "admin", PASSWORD, only_if_first=True)
    with pytest.raises(AccountError, match="invalid user name"):
        accounts.add("../etc", "reader", PASSWORD)
    with pytest.raises(AccountError, match="reader, who cannot write"):
        accounts.grant("bob", "hr-docs", "write")


def test_a_reader_sees_and_asks_only_the_collections_granted(team):
    rita = workspace_for(team, "rita")
    assert rita.collections() == ["hr-docs"]
    answer = rita.ask("How many days of paid annual leave do employees get?", "hr-docs")
    assert {h.passage.source for h in answer.hits + answer.related} <= {"leave.md"}
    with pytest.raises(AccessDenied, match="rita may not read the collection 'board-plans'"):
        rita.ask("How much will the board pay for Zephyr Corp?", "board-plans")
    for reading in (rita.documents, rita.failures):
        with pytest.raises(AccessDenied):
            reading("board-plans")
    doc_id = team.store("board-plans").documents()[0].doc_id
    with pytest.raises(AccessDenied):
        rita.page_text("board-plans", doc_id, None)
    with pytest.raises(AccessDenied):
        rita.original("board-plans", doc_id)


def test_a_reader_cannot_upload_delete_or_administer(team):
    rita = workspace_for(team, "rita")
    record = team.store("hr-docs").documents()[0]
    assert not rita.may_write("hr-docs")
    with pytest.raises(AccessDenied):
        rita.upload([("new.md", b"# New\n\nSomething new.\n")], "hr-docs")
    with pytest.raises(AccessDenied):
        rita.delete_document(record.doc_id, "hr-docs")
    assert [r.doc_id for r in team.store("hr-docs").documents()] == [record.doc_id]
    for admin_action in (
        rita.users, rita.grants, lambda: rita.add_user("mallory", "admin", PASSWORD),
        lambda: rita.grant("rita", "board-plans", "read"), lambda: rita.set_role("rita", "admin"),
        lambda: rita.remove_user("boss"), lambda: rita.set_password("boss", "x" * 10),
        lambda: rita.revoke("rita", "hr-docs"),
    ):
        with pytest.raises(AccessDenied, match="not an admin"):
            admin_action()
    assert team.accounts.get("rita").role == "reader"
    assert team.accounts.get("mallory") is None
    assert rita.collections() == ["hr-docs"]


def test_an_editor_writes_only_where_granted_and_an_admin_everywhere(team):
    ed = workspace_for(team, "ed")
    report = ed.upload([("travel.md", b"# Travel\n\nTrain tickets are refunded in full.\n")], "hr-docs")
    assert [o.status for o in report.outcomes] == ["added"]
    assert "travel.md" in [r.source for r in ed.documents("hr-docs")]
    with pytest.raises(AccessDenied):
        ed.upload([("x.md", b"# X\n\ntext\n")], "board-plans")
    with pytest.raises(AccessDenied):
        ed.documents("board-plans")
    boss = workspace_for(team, "boss")
    assert set(boss.collections()) >= {"hr-docs", "board-plans"}
    plans_doc = team.store("board-plans").documents()[0]
    assert boss.delete_document(plans_doc.doc_id, "board-plans") > 0
    # A grant takes effect at once, and so does revoking it.
    boss.grant("rita", "board-plans", "read")
    assert "board-plans" in workspace_for(team, "rita").collections()
    boss.revoke("rita", "board-plans")
    assert "board-plans" not in workspace_for(team, "rita").collections()


HOSTILE_NAMES = ["../../x.pdf", "/etc/passwd", "a.pdf:evil", "n" * 300 + ".md", "..\\..\\win.txt"]


def test_hostile_upload_names_are_stored_safely_under_generated_names(team, tmp_path):
    ed = workspace_for(team, "ed")
    uploads = [(name, f"# Note {i}\n\nUpload number {i} is about topic {i}.\n".encode()) for i, name in enumerate(HOSTILE_NAMES)]
    before = {p for p in tmp_path.rglob("*") if not p.is_relative_to(team.settings.upload_dir)}
    report = ed.upload(uploads, "hr-docs")
    assert [o.status for o in report.outcomes] == ["added"] * len(HOSTILE_NAMES), [o.describe() for o in report.outcomes]
    upload_dir = (team.settings.upload_dir / "hr-docs").resolve()
    stored = sorted(upload_dir.iterdir())
    assert len(stored) == len(HOSTILE_NAMES)
    for path in stored:  # generated names: 32 hex digits and the type found in the content
        assert len(path.stem) == 32 and all(c in "0123456789abcdef" for c in path.stem) and path.suffix in (".txt", ".md")
    # Nothing was written anywhere else (the store's own files aside).
    after = {p for p in tmp_path.rglob("*") if not p.is_relative_to(team.settings.upload_dir)}
    assert {p for p in after - before if not p.is_relative_to(team.settings.store_dir)} == set()
    assert not (tmp_path.parent / "x.pdf").exists()
    # The original name is only metadata: shown (escaped by the app), never used as a path.
    sources = {r.source: r for r in ed.documents("hr-docs")}
    assert {"x.pdf", "passwd", "a.pdf:evil", "win.txt"} <= set(sources)
    long_name = next(s for s in sources if s.startswith("nnn"))
    assert len(long_name) <= 120 and long_name.endswith(".md")
    for name in ("x.pdf", "passwd", "a.pdf:evil"):
        assert ed.original("hr-docs", sources[name].doc_id).parent == upload_dir


def test_an_upload_is_judged_by_its_content_and_its_size(team):
    ed = workspace_for(team, "ed")
    limit = int(team.settings.max_upload_mb * 1_000_000)
    report = ed.upload(
        [("report.pdf", b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 8),
         ("huge.txt", b"a" * (limit + 1)),
         ("fine.md", b"# Fine\n\nThis one is fine.\n")],
        "hr-docs",
    )
    lines = {o.source: (o.status, o.describe()) for o in report.outcomes}
    assert lines["report.pdf"][0] == "failed" and "binary data" in lines["report.pdf"][1]
    assert lines["huge.txt"][0] == "failed" and "over the upload size limit" in lines["huge.txt"][1]
    assert lines["fine.md"][0] == "added"
    assert not any(p.name.endswith(".pdf") for p in (team.settings.upload_dir / "hr-docs").iterdir())


def test_history_is_kept_per_person_and_only_its_owner_reads_or_deletes_it(team):
    rita, ed = workspace_for(team, "rita"), workspace_for(team, "ed")
    answer = rita.ask("How many days of paid annual leave do employees get?", "hr-docs")
    conversation = rita.remember(None, "hr-docs", answer.question, answer)
    rita.remember(conversation, "hr-docs", "And in the first year?", answer)
    listed = rita.conversations()
    assert [(c.id, c.turns) for c in listed] == [(conversation, 2)]
    assert rita.conversations("annual LEAVE")[0].id == conversation
    assert rita.conversations("zephyr") == []
    assert [t.question for t in rita.turns(conversation)][1] == "And in the first year?"
    assert ed.conversations() == [] and ed.turns(conversation) == []
    assert ed.forget(conversation) is False
    assert rita.turns(conversation)
    assert rita.forget(conversation) is True
    assert rita.conversations() == []


def test_the_proxy_header_counts_only_in_proxy_mode_and_only_from_the_proxy(team):
    headers = {"x-forwarded-user": "rita"}
    assert proxy_user(team, headers, "127.0.0.1") is None  # sign_in = none: a header is just a header
    proxied = Pipeline(team.settings.replace(sign_in="proxy"), embedder=team.embedder, generator=team.generator)
    assert proxy_user(proxied, headers, "127.0.0.1").name == "rita"
    assert proxy_user(proxied, headers, "::1").name == "rita"
    assert proxy_user(proxied, {"X-Forwarded-User": "nobody"}, "127.0.0.1") is None
    assert proxy_user(proxied, {}, "127.0.0.1") is None
    accounts_mode = Pipeline(team.settings.replace(sign_in="accounts"), embedder=team.embedder, generator=team.generator)
    assert proxy_user(accounts_mode, headers, "127.0.0.1") is None
    # A port reachable around the proxy: the header is refused from any other address.
    with pytest.raises(AccessDenied, match="not from the proxy's addresses"):
        proxy_user(proxied, {"X-Forwarded-User": "boss"}, "10.0.0.66")
    # A proxy that appends to what the client sent, or a header sent twice: refused, not guessed at.
    with pytest.raises(AccessDenied, match="more than one name"):
        proxy_user(proxied, {"X-Forwarded-User": "boss, rita"}, "127.0.0.1")
    from streamlit.runtime.context import StreamlitHeaders

    twice = StreamlitHeaders([("X-Forwarded-User", "boss"), ("X-Forwarded-User", "rita")])
    with pytest.raises(AccessDenied, match="more than one name"):
        proxy_user(proxied, twice, "127.0.0.1")
    refusals = [e for e in team.accounts.audit.events() if e.action == "proxy header refused"]
    assert [e.address for e in refusals] == ["127.0.0.1", "127.0.0.1", "10.0.0.66"]


def test_the_proxy_secret_and_addresses_are_both_checked_when_both_are_set(team):
    settings = team.settings.replace(sign_in="proxy", proxy_addresses="10.0.0.0/24", proxy_secret="s3cret-from-the-proxy")
    proxied = Pipeline(settings, embedder=team.embedder, generator=team.generator)
    good = {"X-Forwarded-User": "rita", "X-Ragapp-Proxy-Secret": "s3cret-from-the-proxy"}
    assert proxy_user(proxied, good, "10.0.0.5").name == "rita"
    with pytest.raises(AccessDenied, match="does not hold the proxy's secret"):
        proxy_user(proxied, {"X-Forwarded-User": "rita", "X-Ragapp-Proxy-Secret": "guess"}, "10.0.0.5")
    with pytest.raises(AccessDenied, match="does not hold the proxy's secret"):
        proxy_user(proxied, {"X-Forwarded-User": "rita"}, "10.0.0.5")
    with pytest.raises(AccessDenied, match="not from the proxy's addresses"):
        proxy_user(proxied, good, "10.0.1.5")
    secret_only = Pipeline(settings.replace(proxy_addresses=""), embedder=team.embedder, generator=team.generator)
    assert proxy_user(secret_only, good, "192.0.2.1").name == "rita"
    assert "s3cret" not in str(settings.shown())


def test_proxy_sign_in_without_addresses_or_secret_is_a_settings_error():
    from ragapp.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="proxy_addresses or proxy_secret"):
        Settings.load(env={"RAGAPP_SIGN_IN": "proxy", "RAGAPP_PROXY_ADDRESSES": " "})
    with pytest.raises(SettingsError, match="not an IP address"):
        Settings.load(env={"RAGAPP_SIGN_IN": "proxy", "RAGAPP_PROXY_ADDRESSES": "proxy.lan"})


def test_without_sign_in_the_local_user_may_do_everything(team):
    local = Workspace(team, LOCAL_USER)
    assert set(local.collections()) >= {"hr-docs", "board-plans"}
    assert local.may_write("board-plans")


def test_the_model_is_taken_in_turns_first_come_first_served():
    queue = FairQueue()
    order, told = [], {}
    release = threading.Event()

    def first():
        with queue.turn():
            release.wait(5)
            order.append(0)

    def later(n):
        with queue.turn(on_wait=lambda ahead: told.setdefault(n, ahead)):
            order.append(n)

    threads = [threading.Thread(target=first)]
    threads[0].start()
    time.sleep(0.05)
    for n in range(1, 6):  # each arrives after the one before it
        threads.append(threading.Thread(target=later, args=(n,)))
        threads[-1].start()
        time.sleep(0.05)
    assert len(queue) == 6
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4, 5]
    assert told == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
    assert len(queue) == 0


def test_a_question_that_gives_up_waiting_frees_its_place():
    queue = FairQueue()
    holding = threading.Event()
    release = threading.Event()

    def holder():
        with queue.turn():
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    holding.wait(5)

    def give_up(ahead):
        raise RuntimeError("the browser tab was closed")

    with pytest.raises(RuntimeError):
        with queue.turn(on_wait=give_up):
            pass
    release.set()
    thread.join(5)
    with queue.turn():  # not stuck behind the one that left
        pass
    assert len(queue) == 0


def test_a_model_server_with_slots_is_given_that_many_questions_at_once():
    queue = FairQueue(slots=2)
    inside, most, told = [], [0], {}
    lock = threading.Lock()
    release = threading.Event()

    def ask(n):
        with queue.turn(on_wait=lambda ahead: told.setdefault(n, ahead)):
            with lock:
                inside.append(n)
                most[0] = max(most[0], len(inside))
            release.wait(5)
            with lock:
                inside.remove(n)

    threads = []
    for n in range(4):  # in order of arrival
        threads.append(threading.Thread(target=ask, args=(n,)))
        threads[-1].start()
        time.sleep(0.05)
    time.sleep(0.1)
    assert sorted(inside) == [0, 1]  # the first two at once; the others wait their turn
    assert told == {2: 1, 3: 2}
    release.set()
    for thread in threads:
        thread.join(5)
    assert most[0] == 2 and len(queue) == 0


def test_a_one_megabyte_question_is_refused_before_any_work(team):
    from ragapp.documents import QuestionError

    rita = Workspace(team, team.accounts.require("rita"))
    embedded = len(team.embedder.embedded)
    huge = "how many days of leave " * 45_000  # about 1 MB
    started = time.perf_counter()
    with pytest.raises(QuestionError, match="at most 2000 are accepted"):
        rita.ask(huge, "hr-docs")
    with pytest.raises(QuestionError, match="the query is"):
        rita.search(huge, "hr-docs")
    assert time.perf_counter() - started < 1.0
    assert len(team.embedder.embedded) == embedded  # nothing embedded, nothing looked up


def test_ragapp_audit_lists_what_happened_newest_first(settings, monkeypatch, capsys):
    from ragapp import cli
    from ragapp.keys import ApiKeys

    monkeypatch.setenv("RAGAPP_STORE_DIR", str(settings.store_dir))
    monkeypatch.delenv("RAGAPP_APP_DB", raising=False)
    accounts = Accounts(settings.app_db_path)
    accounts.add("ann", "admin", PASSWORD)
    accounts.authenticate("ann", "a wrong guess", "10.0.0.66")
    info, _secret = ApiKeys(settings.app_db_path).create("ann", label="nightly report")
    assert cli.main(["audit"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "API key created" in lines[0] and info.id in lines[0]
    assert "ann\tsign-in failed\tann\twrong password\tfrom 10.0.0.66" in lines[1]
    assert "(command line)\taccount added\tann\tadmin" in lines[2]
    assert cli.main(["audit", "--user", "nobody"]) == 0
    assert capsys.readouterr().out.strip() == "nothing in the audit log yet"
