"""The EmoSpeaker network: shapes, front end, window controller, intensity matrix, checkpoints."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from emospeaker.channels import ALL_CHANNELS, index_of
from emospeaker.emotion import EMOTIONS
from emospeaker.engines.neural.checkpoint import load_model, save_checkpoint, weights_checksum
from emospeaker.engines.neural.model import (
    EmoSpeakerNet,
    ModelConfig,
    default_layer_channels,
    mel_filterbank,
)
from emospeaker.errors import InputError

SMALL = dict(low_dim=24, mid_dim=32, high_dim=32, head_hidden=32, au_dim=16, code_dim=8)


def small_model(seed: int = 0, **overrides) -> EmoSpeakerNet:
    torch.manual_seed(seed)
    cfg = ModelConfig(au_names=("AU1", "AU4", "AU12"), **{**SMALL, **overrides})
    return EmoSpeakerNet(cfg).eval()


def run(model, seconds: float, fps: Fraction, curves=None, seed: int = 0):
    frames = int(np.ceil(seconds * fps))
    g = torch.Generator().manual_seed(seed)
    audio = torch.randn(1, int(seconds * 16000), generator=g) * 0.1
    times = (torch.arange(frames, dtype=torch.float64) / float(fps)).float()[None]
    if curves is None:
        curves = torch.zeros(1, frames, len(EMOTIONS))
    with torch.no_grad():
        return model(audio, times, torch.tensor([1 / float(fps)]), curves)


@pytest.mark.parametrize("fps", [Fraction(24000, 1001), Fraction(25), Fraction(60)])
def test_forward_shapes_at_any_frame_rate(fps):
    model = small_model()
    out = run(model, 1.3, fps)
    frames = int(np.ceil(1.3 * fps))
    assert set(out) == {"lips", "emotion", "head"}
    for layer in out.values():
        assert layer.shape == (1, frames, len(ALL_CHANNELS))
        assert torch.isfinite(layer).all()


def test_layer_masks_keep_heads_on_their_channels():
    model = small_model(layer_channels=default_layer_channels())
    out = run(model, 1.0, Fraction(30), torch.full((1, 30, 8), 0.7))
    head = index_of("headPitch")
    assert out["lips"][..., head].abs().max() == 0
    assert out["head"][..., index_of("jawOpen")].abs().max() == 0
    assert out["emotion"][..., index_of("eyeBlinkLeft")].abs().max() == 0


def test_mel_filterbank_matches_librosa():
    import librosa

    ours = mel_filterbank(16000, 400, 80)
    reference = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-7)


def test_window_controller_pools_the_right_time_span():
    model = small_model()
    ctrl = model.controller
    # a feature that equals its own time (seconds) at each 10 ms low-level frame
    t = torch.arange(300, dtype=torch.float32) / 100.0
    feats = t[None, None, :].repeat(1, 2, 1)
    times = torch.tensor([[0.5, 1.0, 2.0]])
    pooled = ctrl("low", feats, times, torch.tensor([1 / 30]))
    # symmetric taps at initialisation: a linear ramp pools to the window centre
    assert torch.allclose(pooled[0, :, 0], times[0], atol=1e-5)
    assert ctrl.window(torch.tensor([1 / 10]))[0] == pytest.approx(0.1)  # the frame interval
    assert ctrl.window(torch.tensor([1 / 60]))[0] == pytest.approx(0.08)
    mid = torch.arange(150, dtype=torch.float32)[None, None] * 0.02 + 0.005  # 50 Hz grid
    pooled_mid = ctrl("mid", mid, times, torch.tensor([1 / 30]))
    assert torch.allclose(pooled_mid[0, :, 0], times[0], atol=1e-4)


def test_intensity_codes_are_zero_at_zero_monotone_and_bounded():
    model = small_model(seed=3)
    with torch.no_grad():
        model.matrix.steps.normal_(0.0, 1.5)  # an arbitrary trained-looking matrix
    s = torch.linspace(0, 4, 401)
    for c in range(len(EMOTIONS)):
        curves = torch.zeros(len(s), len(EMOTIONS))
        curves[:, c] = s
        with torch.no_grad():
            codes = model.matrix(curves)
        assert torch.isfinite(codes).all()
        assert codes[0].abs().max() == 0  # intensity 0 is no emotion at all
        diffs = codes[1:] - codes[:-1]
        rounding = 1e-6 * max(1.0, float(codes.max()))  # float32, codes of order 10
        assert (diffs >= -rounding).all()  # every coordinate non-decreasing
        assert (codes[-1] > codes[100]).any()  # and it keeps moving above the top level
        # extrapolation: bounded by the ceiling, and smooth (small second differences)
        ceiling = model.matrix.sequence()[c, -1]
        assert (codes <= ceiling + 1e-5).all()
        second = codes[2:] - 2 * codes[1:-1] + codes[:-2]
        assert second.abs().max() < 0.05 * (codes[-1].abs().max() + 1e-6)


def test_emotion_layer_is_monotone_in_intensity_between_and_beyond_levels():
    model = small_model(seed=5)
    with torch.no_grad():
        model.matrix.steps.normal_(0.0, 1.0)
        model.emo_atoms.normal_(-1.0, 1.0)
    levels = torch.linspace(0, 3, 61)
    frames = 20
    audio = torch.randn(1, 16000) * 0.1
    times = torch.arange(frames)[None].float() / 30
    feats = model.features(audio, times, torch.tensor([1 / 30]))
    happy = EMOTIONS.index("happy")
    previous = None
    blend = model.blendshape
    with torch.no_grad():
        for s in levels:
            curves = torch.zeros(1, frames, 8)
            curves[..., happy] = s
            emotion = model.layers(feats, curves)["emotion"][..., blend]
            if previous is not None:
                assert (emotion >= previous - 1e-6).all()
            previous = emotion
    assert previous.max() > 0


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    model = small_model(seed=7)
    with torch.no_grad():
        model.front.mean.fill_(-3.0)  # buffers travel too
    path = tmp_path / "m.pt"
    checksum = save_checkpoint(path, model, info={"note": "test", "pair": (1, 2)})
    loaded, payload = load_model(path)
    assert payload["checksum"] == checksum == weights_checksum(loaded.state_dict())
    assert payload["info"]["note"] == "test"
    curves = torch.rand(1, 39, 8)
    a = run(model, 1.3, Fraction(30), curves)
    b = run(loaded, 1.3, Fraction(30), curves)
    for name in a:
        assert torch.equal(a[name], b[name])


def test_damaged_or_missing_checkpoint_is_refused(tmp_path):
    model = small_model()
    path = tmp_path / "m.pt"
    save_checkpoint(path, model)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["exp_net.0.weight"][0, 0] += 1.0
    torch.save(payload, path)
    with pytest.raises(InputError, match="checksum mismatch"):
        load_model(path)
    with pytest.raises(InputError, match="no such checkpoint"):
        load_model(tmp_path / "absent.pt")
    del payload["state_dict"]["exp_net.0.weight"]  # another version of the network
    payload["checksum"] = weights_checksum(payload["state_dict"])
    torch.save(payload, path)
    with pytest.raises(InputError, match="incompatible version"):
        load_model(path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        load_model(tmp_path / "junk.pt")


def test_model_config_round_trip_and_unknown_keys():
    cfg = ModelConfig(au_names=("AU1",), layer_channels=default_layer_channels())
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown model settings"):
        ModelConfig.from_dict({"hiden": 3})
