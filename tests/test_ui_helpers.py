from ui.render import inert
from ui.sidebar import safe_upload_name


def test_upload_names_cannot_leave_the_upload_folder():
    assert safe_upload_name("../../x.pdf") == "x.pdf"
    assert safe_upload_name("/etc/passwd") == "passwd"
    assert safe_upload_name("..\\..\\evil.md") == "evil.md"
    assert safe_upload_name("a.pdf:evil") == "a.pdf_evil"
    assert safe_upload_name("n" * 300 + ".txt") == "n" * 80 + ".txt"
    assert safe_upload_name("...") == "document"


def test_document_text_renders_inert():
    shown = inert("<script>alert(1)</script> ![x](http://evil.example/p.png) [link](http://x)")
    # Every Markdown and HTML opener is escaped, so nothing becomes a tag, an image or a link.
    assert "\\<script\\>" in shown and "\\!\\[x\\]\\(" in shown and "\\[link\\]\\(" in shown
