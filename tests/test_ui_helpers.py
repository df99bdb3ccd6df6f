from ui.render import inert


def test_document_text_renders_inert():
    shown = inert("<script>alert(1)</script> ![x](http://evil.example/p.png) [link](http://x)")
    # Every Markdown and HTML opener is escaped, so nothing becomes a tag, an image or a link.
    assert "\\<script\\>" in shown and "\\!\\[x\\]\\(" in shown and "\\[link\\]\\(" in shown
