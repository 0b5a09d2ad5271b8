"""web/index.html: probe grids per step, newest first, built with dominate.

The page is updated incrementally: each call renders only the new step's section and inserts
it under a marker, so earlier sections (also those from before a resume) are kept as they are.
"""

import os
import re
from typing import Sequence, Tuple

import dominate
from dominate import tags
from dominate.util import raw

from util.fileio import atomic_write_text

MARKER = "<!-- newest entries go below this line -->"


class HTMLPage:
    def __init__(self, web_dir: str, title: str, image_width: int) -> None:
        self.web_dir = web_dir
        self.image_dir = os.path.join(web_dir, "images")
        self.path = os.path.join(web_dir, "index.html")
        self.image_width = image_width
        os.makedirs(self.image_dir, exist_ok=True)
        if not os.path.exists(self.path):
            doc = dominate.document(title=title)
            with doc.head:
                tags.meta(charset="utf-8")
                tags.style("body{font-family:sans-serif;margin:1em}img{image-rendering:auto;border:1px solid #ccc}"
                           "section{margin-bottom:2em}figure{display:inline-block;margin:0 1em 1em 0}")
            with doc:
                tags.h1(title)
                tags.p("Probe pages (always the same pages) and the last training batch, newest first. "
                       "Rows: input | colorized (G_A) | and for training batches the cycle reconstruction.")
                raw(MARKER)
            atomic_write_text(self.path, doc.render())

    def add_entry(self, step: int, epoch: int, images: Sequence[Tuple[str, str]]) -> None:
        """Insert a section for `step`; `images` are (caption, path relative to web/) pairs."""
        with open(self.path, encoding="utf-8") as f:
            page = f.read()
        if re.search(rf'id="step-{step}"', page):
            return
        section = tags.section(id=f"step-{step}")
        with section:
            tags.h3(f"iteration {step} (epoch {epoch})")
            for caption, rel in images:
                with tags.figure():
                    with tags.a(href=rel):
                        tags.img(src=rel, style=f"max-width:{self.image_width * 4}px;width:auto")
                    tags.figcaption(caption)
        atomic_write_text(self.path, page.replace(MARKER, MARKER + "\n" + section.render(), 1))
