"""Comic book archives (CBZ, or a plain ZIP of pages): reading their members defensively and
writing a new archive atomically. Standard library `zipfile` only; RAR-based CBR is not read.

Reading never extracts to disk: members are read into memory one at a time, so a member name
cannot place a file anywhere. Names are still checked, since they are copied into the output
archive and a reader unpacking that would follow them.
"""

import io
import os
import re
import zipfile
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

from PIL import Image

from data.image_folder import find_files, is_image_file
from util.errors import UserError
from util.fileio import atomic_write_with, pil_format

ARCHIVE_EXTENSIONS = (".cbz", ".zip")
# Archive kinds people hand a comic reader that zipfile cannot open: named in one line, not a traceback.
UNSUPPORTED_ARCHIVES = (".cbr", ".rar", ".cb7", ".7z", ".cbt", ".tar")
DEFAULT_SIZE_LIMIT_MB = 4096  # the largest unpacked volume accepted (--archive_size_limit)
COMIC_INFO = "comicinfo.xml"  # ComicRack's metadata file, matched case-insensitively


class ArchiveError(UserError):
    """An archive refused as a whole (unreadable, unsafe names, over the size limit); the message
    says why and the caller names the archive."""


def is_archive_file(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_EXTENSIONS)


def unsupported_archive_reason(path: str) -> Optional[str]:
    """One line for an archive kind we do not read, or None for anything else."""
    ext = os.path.splitext(path)[1].lower()
    if ext in UNSUPPORTED_ARCHIVES:
        return (f"{path}: {ext} archives are not supported (only CBZ/ZIP); repack the pages as a .cbz "
                "(a ZIP of the images) and run again")
    return None


def find_archives(folder: str) -> Tuple[List[str], List[str]]:
    """(CBZ/ZIP files, archives of kinds we do not read) under `folder`, recursive, sorted by path."""
    found = find_files(folder, lambda name: name.lower().endswith(ARCHIVE_EXTENSIONS + UNSUPPORTED_ARCHIVES))
    return [p for p in found if is_archive_file(p)], [p for p in found if not is_archive_file(p)]


def natural_key(name: str) -> Tuple:
    """Sort key that orders 'p2' before 'p10', as comic readers do (case-insensitive)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name.casefold()))


@dataclass(frozen=True)
class Member:
    """One file of an archive. `name` is what the output archive calls it: the stored name, or a
    renamed one where two stored names clash."""

    info: zipfile.ZipInfo
    name: str
    is_page: bool


def _recovered_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its writer meant it. Without the UTF-8 flag zipfile decodes names as
    cp437, but many tools write UTF-8 without setting the flag; such names are decoded again."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename  # truly cp437 (or another code page): keep zipfile's reading


def _unsafe(name: str) -> bool:
    """True for names that unpack outside the folder they are unpacked in."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) is not None or ".." in parts


def _deduplicated(name: str, taken: set) -> str:
    """`name`, or `name (2)`, `name (3)`... (before the extension) if a name equal to it up to case is taken."""
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{stem} ({n}){ext}"
    taken.add(candidate.casefold())
    return candidate


def list_members(zf: zipfile.ZipFile, size_limit: int) -> List[Member]:
    """The archive's files (folders dropped) in natural order of their names.

    Raises ArchiveError for a member whose name leaves the archive's folder (`../`, absolute, a
    drive letter), an encrypted member, or more than `size_limit` bytes unpacked in all (what the
    headers declare; zipfile never reads a member past its declared size, so this also bounds a
    zip bomb). Names that clash, exactly or up to case, get ' (2)', ' (3)'... in the output.
    """
    infos = [info for info in zf.infolist() if not info.is_dir()]
    total = sum(info.file_size for info in infos)
    if total > size_limit:
        raise ArchiveError(f"unpacks to {total / 2**20:.0f} MB, over the {size_limit / 2**20:.0f} MB "
                           "limit (a zip bomb, or a very large volume: raise --archive_size_limit if you trust it)")
    members, taken = [], set()
    for info in sorted(infos, key=lambda i: natural_key(_recovered_name(i))):
        name = _recovered_name(info)
        if _unsafe(name):
            raise ArchiveError(f"member {name!r} points outside the archive's folder; refusing the archive")
        if info.flag_bits & 0x1:
            raise ArchiveError(f"member {name!r} is encrypted; decrypt the archive first")
        members.append(Member(info, _deduplicated(name, taken), is_image_file(name)))
    return members


def open_archive(path: str) -> zipfile.ZipFile:
    """A ZipFile for reading; ArchiveError (one line) if it is not a readable ZIP."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError, NotImplementedError) as exc:
        raise ArchiveError(f"not a readable CBZ/ZIP archive ({type(exc).__name__}: {exc})") from exc


def read_member(zf: zipfile.ZipFile, member: Member) -> bytes:
    """The member's bytes; zipfile checks the CRC and raises BadZipFile on a damaged member."""
    with zf.open(member.info) as f:
        return f.read()


def write_archive(path: str, entries: Iterable[Tuple[Member, bytes]]) -> None:
    """Write `entries` in order as a new ZIP at `path`, atomically (a temporary file, then a rename).
    Images are stored (already compressed); other members are deflated. Timestamps are kept."""
    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w") as out:
            for member, data in entries:
                info = zipfile.ZipInfo(member.name, date_time=member.info.date_time)
                info.compress_type = zipfile.ZIP_STORED if member.is_page else zipfile.ZIP_DEFLATED
                info.external_attr = member.info.external_attr
                out.writestr(info, data)

    atomic_write_with(path, write)


def encode_like(image: Image.Image, original_name: str) -> bytes:
    """`image` (PIL) encoded in the format its member name's extension says (PNG stays PNG, a
    JPEG page stays JPEG at quality 95), so the output archive keeps every page's name."""
    fmt = pil_format(original_name)
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {"compress_level": 1} if fmt == "PNG" else {}
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
