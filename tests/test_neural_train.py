"""Training the neural engine: the loss falls, resume continues, DDP over two CPU processes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import cli_env
from emospeaker.channels import index_of
from emospeaker.engines.neural.checkpoint import load_model, read_checkpoint
from emospeaker.engines.neural.losses import compute_losses
from emospeaker.errors import InputError
from emospeaker.train.config import load_config
from emospeaker.train.corpus import Corpus, CorpusWriter
from emospeaker.train.data import collate, crop
from emospeaker.train.loop import build_model, train
from neural_toy import AU_NAMES as TOY_AUS
from neural_toy import make_toy_corpus

TINY = """
[data]
corpus = "{corpus}"
crop_seconds = 1.0
augment = false
[model]
low_dim = 24
mid_dim = 32
high_dim = 32
head_hidden = 32
au_dim = 16
code_dim = 8
freq_masks = 0
band_warp = 0.0
[train]
out = "{out}"
steps = {steps}
batch_size = 8
lr = 3e-3
warmup_steps = 5
push_start = 10
log_every = 10
eval_every = 20
checkpoint_every = 20
threads = 1
tensorboard = false
"""


@pytest.fixture(scope="module")
def toy_corpus(tmp_path_factory) -> Path:
    return make_toy_corpus(tmp_path_factory.mktemp("toy") / "corpus", clips=24)


def write_config(tmp_path: Path, corpus: Path, steps: int, name: str = "run") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(corpus=corpus, out=tmp_path / name, steps=steps))
    return path


def read_log(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_loss_falls_on_a_tiny_corpus(tmp_path, toy_corpus):
    cfg = load_config(write_config(tmp_path, toy_corpus, steps=80))
    final = train(cfg)
    rows = read_log(tmp_path / "run" / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(10, 81, 10))

    def fell(term: str, factor: float) -> bool:
        return float(rows[-1][term]) < factor * float(rows[0][term])

    assert fell("total", 0.5) and fell("lips", 0.3) and fell("emotion", 0.8)
    model, payload = load_model(final)
    assert payload["info"]["step"] == 80
    assert payload["info"]["train_config"]["train"]["steps"] == 80
    assert "train_state" not in payload  # the shipped file carries no optimizer
    assert model.cfg.au_names == ("AU1", "AU4", "AU6", "AU12", "AU15")
    assert "jawOpen" in model.cfg.layer_channels["lips"]
    assert "headPitch" not in model.cfg.layer_channels["lips"]


def test_resume_continues_from_last_checkpoint(tmp_path, toy_corpus):
    path = write_config(tmp_path, toy_corpus, steps=20)
    train(load_config(path))
    first = read_checkpoint(tmp_path / "run" / "last.pt")
    assert first["train_state"]["step"] == 20
    train(load_config(path, ["train.steps=40"]))
    rows = read_log(tmp_path / "run" / "log.csv")
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40]
    assert read_checkpoint(tmp_path / "run" / "last.pt")["train_state"]["step"] == 40


def test_config_errors_name_the_setting(tmp_path, toy_corpus):
    path = write_config(tmp_path, toy_corpus, steps=1)
    with pytest.raises(InputError, match=r"\[train\] stpes"):
        load_config(path, ["train.stpes=3"])
    with pytest.raises(InputError, match=r"batch_size = 'x' must be a int"):
        load_config(path, ["train.batch_size=x"])
    with pytest.raises(InputError, match="not a corpus"):
        train(load_config(path, [f"data.corpus='{tmp_path}'"]))


def test_ddp_step_with_two_cpu_processes(tmp_path, toy_corpus):
    path = write_config(tmp_path, toy_corpus, steps=4)
    env = {**cli_env(), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(29500 + os.getpid() % 1000),
            "-m",
            "emospeaker.train",
            str(path),
            "--set",
            "train.log_every=2",
            "--quiet",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_log(tmp_path / "run" / "log.csv")
    assert [int(r["step"]) for r in rows] == [2, 4]  # one log for both ranks
    model, payload = load_model(tmp_path / "run" / "model.pt")
    assert payload["info"]["step"] == 4
    assert all(torch.isfinite(p).all() for p in model.parameters())


def video_corpus(root: Path, toy: Path) -> Path:
    """The toy clips as a video fit sees them: one `combined` track, brows moving besides."""
    writer = CorpusWriter(root, TOY_AUS, {"source": "toy-video"})
    for clip in Corpus(toy).load():
        combined = clip.layers["lips"] + clip.layers["emotion"] + clip.layers["head"]
        combined[:, index_of("browInnerUp")] = 0.3
        writer.add(replace(clip, id=f"v{clip.id}", layers={"combined": combined}))
    writer.finish()
    return root


def test_combined_upper_zero_learns_only_the_mouth_from_video_fits(tmp_path, toy_corpus):
    cfg = load_config(write_config(tmp_path, toy_corpus, steps=1))
    corpus = Corpus(video_corpus(tmp_path / "video", toy_corpus))
    clips = corpus.load()[:4]
    torch.manual_seed(0)
    model = build_model(cfg, Corpus(toy_corpus), Corpus(toy_corpus).load())
    model.eval()
    batch = collate([crop(c, 0, c.frames, 0.3) for c in clips])
    still = {**batch, "combined": batch["combined"].clone()}
    still["combined"][..., index_of("browInnerUp")] = 0.0
    with torch.no_grad():
        for upper, same in ((0.0, True), (1.0, False)):
            weights = replace(cfg.loss, combined_upper=upper)
            a = compute_losses(model, batch, weights)["combined"]
            b = compute_losses(model, still, weights)["combined"]
            assert bool(torch.isclose(a, b)) is same, (upper, float(a), float(b))


def test_training_mixes_a_synthetic_and_a_video_corpus(tmp_path, toy_corpus):
    video = video_corpus(tmp_path / "video", toy_corpus)
    path = write_config(tmp_path, toy_corpus, steps=20)
    cfg = load_config(
        path, [f"data.corpus={[str(toy_corpus), str(video)]}", "data.shares=(0.5, 0.5)"]
    )
    final = train(cfg)
    rows = read_log(tmp_path / "run" / "log.csv")
    assert float(rows[-1]["combined"]) > 0 and float(rows[-1]["lips"]) > 0
    info = read_checkpoint(final)["info"]
    assert info["corpus"]["source"] == "toy" and info["mixed_with"][0]["source"] == "toy-video"
    two = f"data.corpus={[str(toy_corpus), str(video)]}"
    for shares in ("(1.0,)", "(1.0, 0.0)", "('a', 'b')", "0.5"):
        with pytest.raises(InputError, match=r"\[data\] shares"):
            load_config(path, [two, f"data.shares={shares}"])
    for corpus in ("[]", "[1, 2]", "3"):
        with pytest.raises(InputError, match="corpus must be a folder or a list of folders"):
            load_config(path, [f"data.corpus={corpus}"])


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "configs").glob("*.toml")))
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert cfg.data.corpora and cfg.train.steps > 0
    assert len(cfg.data.shares) in (0, len(cfg.data.corpora))
