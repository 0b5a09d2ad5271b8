"""The web page (scripts/app.py) in a real browser: headless Chromium driven by Playwright.

Needs the web extra (requirements-app.txt), playwright and Debian's `chromium`; .ci/run installs
all three. Outside CI a missing piece skips these tests with the reason; in CI it fails them.
"""

import io
import os
import shutil
import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

IN_CI = os.environ.get("CI") == "true"


def _need(module: str):
    try:
        return pytest.importorskip(module)
    except pytest.skip.Exception:
        if IN_CI:
            raise AssertionError(f"{module} is not installed; .ci/run must install requirements-dev.txt")
        raise


def _chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if IN_CI:
            raise AssertionError("no chromium on PATH; .ci/run must apt-get install chromium")
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(run_folder):
    """scripts/app.py's app on a free localhost port, in this process; stops at the end."""
    uvicorn = _need("uvicorn")
    _need("starlette")
    from scripts.app import parse_app_options
    from inference.web import create_app
    from util.device import select_device

    port = _free_port()
    opt = parse_app_options(["--name", "tiny", "--checkpoints_dir", run_folder, "--port", str(port),
                             "--device", "cpu", "--precision", "fp32"])
    config = uvicorn.Config(create_app(opt, select_device("cpu", [-1])), host="127.0.0.1", port=port,
                            log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "the server did not start in 20 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(timeout=10)


def _scan(path, size=(96, 128)) -> None:
    """A gray page: paper, a panel border and some strokes."""
    page = np.full(size[::-1], 240, np.uint8)
    page[4:-4, 4:6] = page[4:-4, -6:-4] = page[4:6, 4:-4] = page[-6:-4, 4:-4] = 10
    page[40:44, 20:70] = 30
    Image.fromarray(page).save(path)


def test_upload_a_page_and_get_it_colored(tmp_path, server, run_folder):
    sync_api = _need("playwright.sync_api")
    scan = tmp_path / "page 1 #a.png"
    _scan(scan)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.goto(server)
            sync_api.expect(page.locator("#run")).to_have_text("tiny")
            assert page.locator("#label option").all_inner_texts() == ["latest"]
            page.set_input_files("#file", str(scan))
            page.click("#go")
            sync_api.expect(page.locator("#status")).to_contain_text("done: 96×128", timeout=60_000)
            page.wait_for_function("document.getElementById('colored').complete "
                                   "&& document.getElementById('colored').naturalWidth > 0")
            natural = page.eval_on_selector("#colored", "img => [img.naturalWidth, img.naturalHeight]")
            assert natural == [96, 128]
            assert page.get_attribute("#download", "download") == "page 1 #a_colored.png"
            png = page.request.get(server + page.get_attribute("#colored", "src")).body()
            rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
            assert rgb.shape == (128, 96, 3)
            assert (rgb.max(axis=2) - rgb.min(axis=2)).mean() > 2.0  # colored, where the scan has no chroma
            page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
            assert (tmp_path / "app.png").stat().st_size > 0

            # A file that is not an image: one line on the page, and the server goes on.
            bad = tmp_path / "notes.png"
            bad.write_text("not an image")
            page.set_input_files("#file", str(bad))
            page.click("#go")
            sync_api.expect(page.locator("#status")).to_contain_text("notes.png: not an image", timeout=30_000)

            # Another checkpoint, --keep_lines, and the slider view.
            shutil.copy(os.path.join(run_folder, "tiny", "latest_net_G_A.pth"),
                        os.path.join(run_folder, "tiny", "3_net_G_A.pth"))
            page.reload()
            sync_api.expect(page.locator("#label option")).to_have_count(2)
            assert page.locator("#label option").all_inner_texts() == ["latest", "3"]
            page.select_option("#label", "3")
            page.check("#keep_lines")
            page.set_input_files("#file", str(scan))
            page.click("#go")
            sync_api.expect(page.locator("#status")).to_contain_text("done: 96×128", timeout=60_000)
            page.check("#slider_view")
            assert page.is_visible("#compare") and not page.is_visible("#side_by_side")
            png = page.request.get(server + page.get_attribute("#colored", "src")).body()
            kept = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
            scan_luma = np.asarray(Image.open(scan).convert("L"), dtype=np.float64)
            assert np.abs(kept - scan_luma).mean() < 3.0  # keep lines: the scan's own luminance
        finally:
            browser.close()


def test_checkpoint_labels_newest_first(tmp_path):
    from util.checkpoint import available_labels

    for name in ("latest_net_G_A.pth", "best_checkpoint.pth", "2_net_G_A.pth", "10_net_G_A_ema.pth",
                 "iter_500_net_G_A.pth", "iter_1500_checkpoint.pth", "latest_net_G_B.pth", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert available_labels(str(tmp_path)) == ["latest", "best", "10", "2", "iter_1500", "iter_500"]
    assert available_labels(str(tmp_path / "missing")) == []
