"""Colorizing a volume: a CBZ/ZIP archive of pages in, a new archive out, with the same members
in natural page order under the same names. Pages that fail keep their B/W original, so a volume
never comes out missing a page; other members (ComicInfo.xml, text) are copied unchanged."""

import io
import logging
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Tuple

from PIL import Image, UnidentifiedImageError

from data.comic_archive import ArchiveError, Member, encode_like, list_members, open_archive, read_member, write_archive
from data.image_folder import load_image

log = logging.getLogger(__name__)


@dataclass
class VolumeResult:
    """What became of one archive's pages; `failed` and `colored` hold member names."""

    pages: int = 0
    colored: List[str] = field(default_factory=list)
    failed: List[str] = field(default_factory=list)


# Called with (member name, the B/W page, the colored page) for each page colorized: thumbnails.
PageHook = Callable[[str, Image.Image, Image.Image], None]


def colorize_volume(src: str, dst: str, colorize: Callable[[Image.Image], Image.Image], input_nc: int,
                    size_limit: int, on_page: Optional[PageHook] = None) -> VolumeResult:
    """Colorize every page of the archive `src` into a new archive `dst` (written atomically).

    A page that fails to decode or colorize is logged in one line (`failed <src>:<member>: ...`)
    and stored as it was. ArchiveError if the archive is refused as a whole (unreadable, a member
    named outside the archive's folder, over `size_limit` bytes unpacked, a damaged member): then
    nothing is written to `dst`.
    """
    result = VolumeResult()
    with open_archive(src) as zf:
        members = list_members(zf, size_limit)
        result.pages = sum(m.is_page for m in members)

        def entries() -> Iterator[Tuple[Member, bytes]]:
            for member in members:
                try:
                    data = read_member(zf, member)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                    raise ArchiveError(f"member {member.name!r} is damaged ({type(exc).__name__}: {exc}); "
                                       "nothing was written for this archive") from exc
                if member.is_page:
                    data = _colorized_or_original(src, member, data, colorize, input_nc, result, on_page)
                yield member, data

        write_archive(dst, entries())
    return result


def _colorized_or_original(src: str, member: Member, data: bytes, colorize: Callable[[Image.Image], Image.Image],
                           input_nc: int, result: VolumeResult, on_page: Optional[PageHook]) -> bytes:
    try:
        page = load_image(io.BytesIO(data), input_nc)
        colored = colorize(page)
        encoded = encode_like(colored, member.name)
    except Exception as exc:  # one page's failure (bad image, out of memory), not the volume's
        result.failed.append(member.name)
        reason = "not a readable image" if isinstance(exc, UnidentifiedImageError) else " ".join(str(exc).split())[:200]
        log.error("failed %s:%s: %s: %s (kept B/W in the output archive)", src, member.name, type(exc).__name__, reason)
        return data
    result.colored.append(member.name)
    if on_page is not None:
        on_page(member.name, page, colored)
    return encoded
