"""End-to-end: tiny two-epoch runs on generated 32 px images."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, tiny_flags, write_images
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train
from util.checkpoint import FORMAT_VERSION, load_checkpoint


def run(argv) -> int:
    return train.main(argv)


def test_two_epoch_run_leaves_events_html_log_and_checkpoints(dataroot, tmp_path):
    assert run(tiny_flags(dataroot, str(tmp_path / "ck"))) == 0
    run_dir = tmp_path / "ck" / "tiny"
    files = set(os.listdir(run_dir))
    for name in ("opt.txt", "opt.json", "train.log", "loss_log.jsonl", "latest_checkpoint.pth",
                 "1_checkpoint.pth", "2_checkpoint.pth", "latest_net_G_A.pth", "latest_net_G_B.pth",
                 "2_net_G_A.pth", "2_net_G_B.pth"):
        assert name in files, name
    assert not [f for f in files if f.endswith(".tmp")]

    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "scalars": 0}).Reload()
    tags = events.Tags()
    for tag in ("loss/G_A", "loss/G_B", "loss/cycle_A", "loss/cycle_B", "loss/idt_A", "loss/idt_B", "loss/D_A",
                "loss/D_B", "lr", "time/data", "time/step", "throughput/images_per_s"):
        assert tag in tags["scalars"], tag
    assert [e.step for e in events.Scalars("loss/G_A")] == [2, 4, 6, 8]
    assert [e.value for e in events.Scalars("lr")] == pytest.approx([2e-4, 2e-4, 1e-4, 1e-4])
    assert {"images/A", "images/B", "images/probe"} <= set(tags["images"])
    assert any("options" in t for t in tags["tensors"])
    assert os.path.isdir(run_dir / "hparams")

    lines = [json.loads(line) for line in open(run_dir / "loss_log.jsonl")]
    assert [line["step"] for line in lines] == [2, 4, 6, 8] and "loss/D_A" in lines[0]

    page = (run_dir / "web" / "index.html").read_text()
    assert page.index('id="step-8"') < page.index('id="step-4"')  # newest first
    for name in ("step0000004_probe.png", "step0000008_probe.png", "step0000008_train.png"):
        assert name in page and (run_dir / "web" / "images" / name).exists()

    state = load_checkpoint(str(run_dir / "latest_checkpoint.pth"))
    assert state["format_version"] == FORMAT_VERSION
    assert (state["epoch"], state["epoch_iter"], state["global_step"]) == (2, 4, 8)
    assert set(state["networks"]) == {"G_A", "G_B", "D_A", "D_B"}
    assert state["optimizers"]["G"]["state"], "Adam moments must be saved"
    assert len(state["pools"]["fake_A"]["images"]) == 3
    assert state["options"]["seed"] == 7
    g_a = torch.load(run_dir / "latest_net_G_A.pth", weights_only=True)
    assert all(torch.equal(g_a[k], state["networks"]["G_A"][k]) for k in g_a)


def _all_weights(path):
    state = torch.load(path, weights_only=True)
    return state, {f"{n}.{k}": v for n, sd in state["networks"].items() for k, v in sd.items()}


@pytest.mark.parametrize("workers", ["0", "2"])
def test_resume_mid_epoch_is_bit_identical(dataroot, tmp_path, workers):
    straight = tiny_flags(dataroot, str(tmp_path / "a")) + ["--num_threads", workers]
    assert run(straight + ["--save_latest_freq", "3", "--save_by_iter"]) == 0

    # A fresh run folder holding only the step-3 checkpoint, as if the first run had died there.
    resumed_dir = tmp_path / "b" / "tiny"
    resumed_dir.mkdir(parents=True)
    shutil.copy(tmp_path / "a" / "tiny" / "iter_3_checkpoint.pth", resumed_dir)
    resumed = tiny_flags(dataroot, str(tmp_path / "b")) + ["--num_threads", workers]
    assert run(resumed + ["--continue_train", "--load_iter", "3"]) == 0

    a_state, a = _all_weights(tmp_path / "a" / "tiny" / "latest_checkpoint.pth")
    b_state, b = _all_weights(resumed_dir / "latest_checkpoint.pth")
    assert b_state["global_step"] == a_state["global_step"] == 8
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(a_state["optimizers"]["G"]["state"][0]["exp_avg_sq"],
                       b_state["optimizers"]["G"]["state"][0]["exp_avg_sq"])


def test_resume_from_epoch_end_continues_with_latest(dataroot, tmp_path):
    flags = tiny_flags(dataroot, str(tmp_path / "ck"))
    assert run(flags + ["--n_epochs_decay", "0"]) == 0  # one epoch only
    assert run(flags + ["--continue_train"]) == 0  # extends to 2 epochs from epoch 2
    state = load_checkpoint(str(tmp_path / "ck" / "tiny" / "latest_checkpoint.pth"))
    assert (state["epoch"], state["global_step"]) == (2, 8)


def test_bad_inputs_give_one_line_and_exit_2(dataroot, tmp_path, capsys):
    ck = str(tmp_path / "ck")
    assert run(tiny_flags(dataroot, ck) + ["--continue_train"]) == 2
    assert "latest_checkpoint.pth: checkpoint not found" in capsys.readouterr().err

    assert run(tiny_flags(dataroot, ck) + ["--n_epochs_decay", "0"]) == 0
    capsys.readouterr()
    assert run(tiny_flags(dataroot, ck) + ["--continue_train", "--ngf", "8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--ngf 4 (flags say 8)" in err and len(err.splitlines()) == 1

    empty = tmp_path / "empty"
    (empty / "trainA").mkdir(parents=True)
    write_images(str(empty / "trainB"), 1, 16, color=True, seed=0)
    assert run(tiny_flags(str(empty), ck, name="e")) == 2
    err = capsys.readouterr().err.strip()
    assert "trainA: no images" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "ck" / "e").exists(), "a failed start must not create a run folder"


@pytest.mark.parametrize("args,message", [
    (["--dataroot", "/nonexistent/data"], "trainA: folder not found"),
    (["--dataroot", "x", "--crop_size", "512"], "--crop_size (512) must be <= --load_size (286)"),
])
def test_cli_user_errors_have_no_traceback(args, message, tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *args, "--checkpoints_dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("nproc", [2, 1])
def test_torchrun_data_parallel_on_cpu(dataroot, tmp_path, nproc):
    flags = tiny_flags(dataroot, str(tmp_path / "ck"))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(nproc), os.path.join(ROOT, "train.py"), *flags],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "ck" / "tiny"
    assert len([f for f in os.listdir(run_dir) if f.startswith("events.out")]) == 1
    state = load_checkpoint(str(run_dir / "latest_checkpoint.pth"))
    # 4 samples per epoch dealt to nproc processes, batch 1 each: 4 / nproc iterations per epoch.
    assert state["global_step"] == 2 * 4 // nproc
    if nproc > 1:
        assert "2 processes hold identical weights" in proc.stderr
        lines = [json.loads(line) for line in open(run_dir / "loss_log.jsonl")]
        assert [line["step"] for line in lines] == [2, 4]  # written once, by rank 0


def test_bf16_training_tracks_fp32(dataroot, tmp_path):
    results = {}
    for precision in ("fp32", "bf16"):
        flags = tiny_flags(dataroot, str(tmp_path / precision)) + ["--precision", precision, "--n_epochs", "3",
                                                                  "--n_epochs_decay", "0", "--print_freq", "4"]
        results[precision] = train.train(train.parse_train_options(flags))
    for key in ("loss/G", "loss/cycle_A", "loss/cycle_B"):
        assert results["bf16"][key] == pytest.approx(results["fp32"][key], rel=0.05), key


@pytest.mark.parametrize("native", [True, False])
def test_precision_auto_trains_in_bf16_only_where_the_cpu_has_it(dataroot, tmp_path, monkeypatch, caplog, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    chosen = []
    real = train.create_model

    def spy(opt, device, seed, precision, grad_sync=None):
        chosen.append(precision)
        return real(opt, device, seed, precision, grad_sync=grad_sync)
    monkeypatch.setattr(train, "create_model", spy)
    with caplog.at_level("INFO"):
        assert run(tiny_flags(dataroot, str(tmp_path / "ck")) + ["--precision", "auto", "--n_epochs", "1",
                                                                 "--n_epochs_decay", "0"]) == 0
    expected = "bf16" if native else "fp32"
    assert chosen == [expected]
    assert f"precision: {expected} (auto: " in caplog.text


def test_fp16_saves_and_resumes_its_loss_scalers(dataroot, tmp_path):
    flags = tiny_flags(dataroot, str(tmp_path / "ck")) + ["--precision", "fp16"]
    assert run(flags + ["--n_epochs_decay", "0"]) == 0
    state = load_checkpoint(str(tmp_path / "ck" / "tiny" / "latest_checkpoint.pth"))
    assert set(state["scaler"]) == {"G", "D"} and state["scaler"]["G"]["scale"] > 0
    assert run(flags + ["--continue_train"]) == 0


def test_validation_logs_val_tags_and_keeps_the_best_checkpoint(dataroot, tmp_path):
    # Pairs: testB holds color versions under testA's file names.
    for name in os.listdir(os.path.join(dataroot, "testA")):
        os.makedirs(os.path.join(dataroot, "testB"), exist_ok=True)
        shutil.copy(os.path.join(dataroot, "trainB", "img_000.png"), os.path.join(dataroot, "testB", name))
    flags = tiny_flags(dataroot, str(tmp_path / "ck")) + ["--val_dataroot", dataroot, "--val_freq", "3"]
    flags += ["--update_html_freq", "3"]  # the validation grid joins the probe grid of the same step
    assert run(flags) == 0
    run_dir = tmp_path / "ck" / "tiny"
    events = EventAccumulator(str(run_dir), size_guidance={"images": 0, "scalars": 0}).Reload()
    for tag in ("val/psnr", "val/ssim", "val/ciede2000", "val/ab_mae", "val/colorfulness_pred"):
        assert [e.step for e in events.Scalars(tag)] == [3, 6, 8], tag
    assert "images/val" in events.Tags()["images"]
    best = load_checkpoint(str(run_dir / "best_checkpoint.pth"))["best"]
    values = [e.value for e in events.Scalars("val/ciede2000")]
    assert best["metric"] == "ciede2000" and best["value"] == pytest.approx(min(values))
    assert (run_dir / "best_net_G_A.pth").exists()
    page = (run_dir / "web" / "index.html").read_text()
    step3 = page[page.index('id="step-3"'):page.index("<!-- end of step 3 -->")]
    assert "step0000003_val.png" in step3 and "step0000003_probe.png" in step3


def test_sync_batchnorm_conversion_keeps_parameters_and_keys(dataroot):
    from models import create_model

    opt = train.parse_train_options(["--dataroot", dataroot, "--norm", "batch", "--ngf", "4", "--ndf", "4"])
    model = create_model(opt, torch.device("cpu"), seed=0, precision=opt.precision)
    keys = {name: set(net.state_dict()) for name, net in model.networks.items()}
    optimized = {id(p) for group in model.optimizer_G.param_groups for p in group["params"]}
    model.convert_sync_batchnorm()
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.networks["G_A"].modules())
    assert {name: set(net.state_dict()) for name, net in model.networks.items()} == keys
    assert {id(p) for p in model.networks["G_A"].parameters()} <= optimized


def test_the_last_html_section_names_the_last_epoch(dataroot, tmp_path):
    # 2 epochs of 4 steps; --display_freq 3 and --update_html_freq 3, so the final images (step 8) are the
    # end-of-run ones, shown after the loop has moved past the last epoch.
    flags = tiny_flags(dataroot, str(tmp_path / "ck")) + ["--display_freq", "3", "--update_html_freq", "3"]
    assert run(flags) == 0
    page = (tmp_path / "ck" / "tiny" / "web" / "index.html").read_text()
    assert "iteration 8 (epoch 2)" in page and "(epoch 3)" not in page
