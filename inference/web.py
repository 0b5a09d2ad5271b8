"""A local web page to try a trained model: drop a B/W scan, see it beside its colored version,
download the PNG. Served by scripts/app.py; built on Starlette (requirements-app.txt).

Routes: GET / (the page), GET /api/info (run name and checkpoint labels), POST /api/colorize
(multipart: file, label, keep_lines; answers 202 with a job id), GET /api/jobs/{id} (state:
queued, decoding, colorizing, encoding, done or failed, with the seconds so far), and
GET /api/jobs/{id}/result.png. Pages are colorized one at a time on a worker thread, with the
same steps as test.py (inference/pipeline.py).
"""

import argparse
import concurrent.futures
import contextlib
import copy
import io
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import AsyncIterator, Dict, List, Optional, Tuple

import torch
from PIL import UnidentifiedImageError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from data.image_folder import load_image
from inference.pipeline import PagePipeline, build_pipeline
from util.checkpoint import available_labels
from util.errors import UserError

PAGE_HTML = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web_page.html")
MAX_UPLOAD_MB = 64  # a 600 dpi double-page scan as PNG is ~20 MB
KEPT_JOBS = 16  # finished results kept in memory for download; older ones are dropped


@dataclass
class Job:
    """One uploaded page on its way through the worker. `state` is what the page shows."""

    filename: str
    state: str = "queued"
    started: float = field(default_factory=time.monotonic)
    finished: Optional[float] = None
    error: Optional[str] = None
    png: Optional[bytes] = None
    size: Optional[Tuple[int, int]] = None

    def summary(self) -> Dict:
        end = self.finished if self.finished is not None else time.monotonic()
        return {"state": self.state, "seconds": round(end - self.started, 1), "error": self.error,
                "width": self.size[0] if self.size else None, "height": self.size[1] if self.size else None}


class ColorizeService:
    """The run's pipelines (one per checkpoint label and --keep_lines choice, built on first use)
    and the jobs. Thread-safe: requests arrive on the server's loop, work runs on one worker."""

    def __init__(self, opt: argparse.Namespace, device: torch.device) -> None:
        self.opt = opt
        self.device = device
        self.run_dir = os.path.join(opt.checkpoints_dir, opt.name)
        self.pipelines: Dict[Tuple[str, bool], PagePipeline] = {}
        self.jobs: "OrderedDict[str, Job]" = OrderedDict()
        self.lock = threading.Lock()
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="colorize")

    def labels(self) -> List[str]:
        return available_labels(self.run_dir)

    def pipeline(self, label: str, keep_lines: bool) -> PagePipeline:
        key = (label, keep_lines)
        if key not in self.pipelines:  # only the worker thread builds pipelines
            opt = copy.copy(self.opt)
            opt.epoch, opt.load_iter, opt.keep_lines = label, 0, keep_lines
            self.pipelines[key] = build_pipeline(opt, self.device)
        return self.pipelines[key]

    def submit(self, data: bytes, filename: str, label: str, keep_lines: bool) -> str:
        job_id = uuid.uuid4().hex
        with self.lock:
            self.jobs[job_id] = Job(filename)
            while len(self.jobs) > KEPT_JOBS:
                self.jobs.popitem(last=False)
        self.worker.submit(self._run, job_id, data, label, keep_lines)
        return job_id

    def job(self, job_id: str) -> Optional[Job]:
        with self.lock:
            return self.jobs.get(job_id)

    def _run(self, job_id: str, data: bytes, label: str, keep_lines: bool) -> None:
        job = self.job(job_id)
        if job is None:
            return
        try:
            job.state = "decoding"
            pipeline = self.pipeline(label, keep_lines)
            page = load_image(io.BytesIO(data), pipeline.generator.input_nc)
            job.size = page.size
            job.state = "colorizing"
            colored = pipeline(page)
            job.state = "encoding"
            buffer = io.BytesIO()
            colored.save(buffer, format="PNG", compress_level=1)
            job.png = buffer.getvalue()
            job.state = "done"
        except UnidentifiedImageError:
            job.state, job.error = "failed", f"{job.filename}: not an image this tool reads (PNG, JPEG, WebP, BMP, TIFF)"
        except Exception as exc:  # shown on the page in one line; the server goes on
            job.state, job.error = "failed", f"{job.filename}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        finally:
            job.finished = time.monotonic()

    def close(self) -> None:
        self.worker.shutdown(wait=False, cancel_futures=True)


def create_app(opt: argparse.Namespace, device: torch.device) -> Starlette:
    """The Starlette app for the run that `opt` names (test.py's weight and processing flags).
    UserError if the run folder has no weights."""
    service = ColorizeService(opt, device)
    if not service.labels():
        raise UserError(f"{service.run_dir}: no generator weights found (--name / --checkpoints_dir); train a run "
                        "with train.py first")
    with open(PAGE_HTML, encoding="utf-8") as f:
        page_html = f.read()

    async def index(request: Request) -> Response:
        return HTMLResponse(page_html)

    async def info(request: Request) -> Response:
        labels = service.labels()
        return JSONResponse({"name": opt.name, "labels": labels,
                             "default": opt.epoch if opt.epoch in labels else labels[0],
                             "keep_lines": opt.keep_lines, "max_upload_mb": MAX_UPLOAD_MB})

    async def colorize(request: Request) -> Response:
        form = await request.form(max_files=1, max_part_size=MAX_UPLOAD_MB * 2**20)
        upload = form.get("file")
        label = str(form.get("label") or service.labels()[0])
        if upload is None or isinstance(upload, str):
            return JSONResponse({"error": "no file in the upload (field 'file')"}, status_code=400)
        if label not in service.labels():
            return JSONResponse({"error": f"no checkpoint labelled {label!r}"}, status_code=400)
        data = await upload.read()
        job_id = service.submit(data, upload.filename or "page", label, form.get("keep_lines") in ("1", "true", "on"))
        return JSONResponse({"job": job_id}, status_code=202)

    async def job_state(request: Request) -> Response:
        job = service.job(request.path_params["job_id"])
        if job is None:
            return JSONResponse({"error": "no such job (finished results are kept for the last 16 pages)"},
                                status_code=404)
        return JSONResponse(job.summary())

    async def result(request: Request) -> Response:
        job = service.job(request.path_params["job_id"])
        if job is None or job.png is None:
            return JSONResponse({"error": "no result for this job (yet)"}, status_code=404)
        return Response(job.png, media_type="image/png")

    routes = [Route("/", index), Route("/api/info", info), Route("/api/colorize", colorize, methods=["POST"]),
              Route("/api/jobs/{job_id}", job_state), Route("/api/jobs/{job_id}/result.png", result)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        service.close()

    return Starlette(routes=routes, lifespan=lifespan, max_body_size=(MAX_UPLOAD_MB + 1) * 2**20)
