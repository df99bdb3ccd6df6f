from ui.render import inert


def test_document_text_renders_inert():
    shown = inert("<script>alert(1)</script> ![x](http://evil.example/p.png) [link](http://x)")
    # Every Markdown and HTML opener is escaped, so nothing becomes a tag, an image or a link.
    assert "\\<script\\>" in shown and "\\!\\[x\\]\\(" in shown and "\\[link\\]\\(" in shown


def test_addresses_in_document_text_do_not_become_links():
    shown = inert("Visit http://evil.example/x?q=1, www.evil.example or write to spy@evil.example")
    # An address directly after "http:", "www" or "@" is what Markdown would turn into a link.
    assert "http\\://" not in shown and "http\\:\u200b//" in shown
    assert "www\u200b" in shown and "@\u200bevil" in shown
    # Read without the invisible breaks and the escapes, the text is unchanged.
    assert shown.replace("\u200b", "").replace("\\", "") == "Visit http://evil.example/x?q=1, www.evil.example or write to spy@evil.example"


def test_selected_rows_are_the_documents_shown_even_when_the_list_changed_since():
    from types import SimpleNamespace as Record

    from ui.documents_page import selected_documents

    shown = ["id-b", "id-c"]  # what the browser was shown when the person ticked row 1 (c)
    now = [Record(doc_id=i) for i in ("id-a", "id-b", "id-c")]  # someone uploaded "a" meanwhile
    assert [r.doc_id for r in selected_documents([1], shown, now)] == ["id-c"]
    # A document deleted meanwhile is not deleted twice, nor replaced by its neighbour.
    assert selected_documents([0], shown, [Record(doc_id="id-c")]) == []
    assert selected_documents([5], shown, now) == []  # a failure's row, past the documents
