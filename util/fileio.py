"""Atomic file writes (a crash mid-write leaves the old file, never a truncated one) and file digests."""

import hashlib
import os
import secrets
from typing import Any, Callable

import torch
from PIL import Image


def _new_temp_file(folder: str, prefix: str) -> str:
    """Create an empty, unique file in `folder` with the permissions open() gives (0666 less the
    umask; mkstemp's 0600 would make outputs private) and return its path."""
    while True:
        path = os.path.join(folder, f"{prefix}{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
        except FileExistsError:
            continue


def atomic_write_with(path: str, write: Callable[[str], None]) -> None:
    """Call `write(tmp)` to fill a temporary file beside `path`, then move it onto `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = _new_temp_file(folder, "." + os.path.basename(path) + ".")
    try:
        write(tmp)
        with open(tmp, "rb") as f:  # on disk before the rename, so a power cut cannot leave it empty
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write_with(path, write)


def atomic_torch_save(obj: Any, path: str) -> None:
    atomic_write_with(path, lambda tmp: torch.save(obj, tmp))


def atomic_save_image(image: Any, path: str, **options: Any) -> None:
    """Save a PIL image; the format comes from the final path's extension, not the temp name.
    `options` go to Pillow's save (e.g. compress_level for PNG)."""
    atomic_write_with(path, lambda tmp: image.save(tmp, format=pil_format(path), **options))


def pil_format(path: str) -> str:
    """Pillow's format name for a file name's extension ('.jpg' -> 'JPEG'); KeyError if unknown."""
    return Image.registered_extensions()[os.path.splitext(path)[1].lower()]


def file_digest(path: str, algorithm: str) -> str:
    """Hex digest of a file's bytes with a hashlib `algorithm` ("sha1", "sha256", ...), read in 4 MB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()
