"""scripts/benchmark_inference.py: its table compares test.py with the eager baseline, per model."""

from scripts import benchmark_inference


def test_inference_benchmark_prints_one_row_per_model_and_mode(capsys):
    assert benchmark_inference.main(["--width", "64", "--height", "48", "--pages", "1", "--modes", "default", "full",
                                     "--precisions", "fp32"]) == 0
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| upstream") or line.startswith("| page")]
    assert [(r[0], r[1]) for r in rows] == [
        ("upstream", "eager fp32 (upstream-style, whole page)"), ("upstream", "test.py default fp32"),
        ("page", "eager fp32 (upstream-style, whole page)"), ("page", "test.py default fp32"),
        ("page", "test.py full fp32")]
    assert all(float(r[3]) > 0 for r in rows) and rows[0][3] == "1.00"
    # A page narrower than the page model's training width runs at full resolution: the same
    # function as the eager pass, so its pages match the baseline's (rounding aside).
    assert rows[1][6] == "identical" and float(rows[3][6].split()[0]) > 40
