"""scripts/check_cuda.py: without a GPU it says so and exits 0; its plumbing runs on CPU."""

import torch

from scripts import check_cuda


def test_without_a_gpu_it_says_so_and_exits_0(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert check_cuda.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("check_cuda.py: no GPU:") and len(out.strip().splitlines()) == 1


def test_the_checks_run_on_cpu_and_fill_the_table(tmp_path, capsys):
    assert check_cuda.main(["--device", "cpu", "--small", "--only", "fused_adam", "test_tiled", "onnx_export",
                            "train_compile", "--keep", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    table = {line.split("|")[1].strip(" `"): [cell.strip() for cell in line.split("|")[2:-1]]
             for line in out.splitlines() if line.startswith("| `")}
    assert set(table) == {"fused_adam", "test_tiled", "onnx_export", "train_compile"}
    assert table["train_compile"][3] == "skipped"  # CUDA only
    for name in ("fused_adam", "test_tiled", "onnx_export"):
        assert table[name][3] == "pass", (name, table[name])
    assert float(table["test_tiled"][1]) > 0  # pages per second
    assert "3 of 3 checks ran clean" in out


def test_a_failing_check_is_a_row_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(check_cuda.Checker, "onnx_export",
                        lambda self, name, what: check_cuda.Result(name, what, False, note="broken on purpose"))
    assert check_cuda.main(["--device", "cpu", "--small", "--only", "onnx_export", "--keep", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "**FAIL**" in out and "broken on purpose" in out and "failed: onnx_export" in out
