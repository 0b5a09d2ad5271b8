"""web/index.html: probe grids per step, newest first, built with dominate.

The page is updated incrementally: each call renders only the new figures and inserts them
(in their step's section, new sections under a marker at the top), so earlier sections, also
those from before a resume, are kept as they are.
"""

import os
from typing import Sequence, Tuple

from dominate import tags
from dominate.util import raw

from util.fileio import atomic_write_text
from util.html import html_document

MARKER = "<!-- newest entries go below this line -->"


class HTMLPage:
    def __init__(self, web_dir: str, title: str, image_width: int) -> None:
        self.web_dir = web_dir
        self.image_dir = os.path.join(web_dir, "images")
        self.path = os.path.join(web_dir, "index.html")
        self.image_width = image_width
        os.makedirs(self.image_dir, exist_ok=True)
        if not os.path.exists(self.path):
            doc = html_document(title, "body{font-family:sans-serif;margin:1em}img{image-rendering:auto;border:1px "
                                "solid #ccc}section{margin-bottom:2em}figure{display:inline-block;margin:0 1em 1em 0}",
                                "Newest first: probe pages (always the same pages: input | colorized), the last "
                                "training batch (real | translated | reconstructed) and, with --val_dataroot, the "
                                "validation pages (input | colorized | ground truth).")
            with doc:
                raw(MARKER)
            atomic_write_text(self.path, doc.render())

    def add_entry(self, step: int, epoch: int, images: Sequence[Tuple[str, str]]) -> None:
        """Add `images` ((caption, path relative to web/) pairs) to the section of `step`, creating
        the section at the top of the page when it is new."""
        with open(self.path, encoding="utf-8") as f:
            page = f.read()
        figures = "\n".join(self._figure(caption, rel).render() for caption, rel in images)
        end = f"<!-- end of step {step} -->"
        if end in page:
            page = page.replace(end, figures + "\n" + end, 1)
        else:
            section = tags.section(id=f"step-{step}")
            with section:
                tags.h3(f"iteration {step} (epoch {epoch})")
                raw(figures + "\n" + end)
            page = page.replace(MARKER, MARKER + "\n" + section.render(), 1)
        atomic_write_text(self.path, page)

    def _figure(self, caption: str, rel: str) -> tags.figure:
        figure = tags.figure()
        with figure:
            with tags.a(href=rel):
                tags.img(src=rel, style=f"max-width:{self.image_width * 4}px;width:auto")
            tags.figcaption(caption)
        return figure
