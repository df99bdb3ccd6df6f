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
