"""The skeleton both HTML pages share (train.py's web/index.html, test.py's results page)."""

import dominate
from dominate import tags


def html_document(title: str, css: str, intro: str) -> dominate.document:
    """A UTF-8 page titled `title` with the stylesheet `css`, opening with an h1 and the paragraph
    `intro`; add the content inside `with doc:`."""
    doc = dominate.document(title=title)
    with doc.head:
        tags.meta(charset="utf-8")
        tags.style(css)
    with doc:
        tags.h1(title)
        tags.p(intro)
    return doc
