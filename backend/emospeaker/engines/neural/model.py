"""The EmoSpeaker network: audio + emotion curves -> FaceTrack layers (PyTorch).

The paper's design, and the choices it leaves open, made here and why:

Front end. Log-mel spectrogram (80 bands, 25 ms Hann window, 10 ms hop, 16 kHz) by
`torch.stft` and a Slaney mel filterbank built in numpy (no librosa/numba on the inference
path). Each band's sliding mean over 3 s is removed (a local cepstral-mean normalisation: the
microphone, the room's colour and the recording level differ between a TTS corpus, MEAD and a
user's line; what the mouth does does not), then bands are scaled by statistics of the training
corpus stored in the checkpoint. In training the mel axis is stretched by a random 0.88-1.12
(vocal-tract-length perturbation: a synthetic corpus has only a handful of voices) and two
random bands of up to 8 mels are masked (SpecAugment's frequency masks).

Audio encoders, fully convolutional over time so any length and any frame rate work:
- low level (100 Hz, 96 ch, receptive field ~90 ms): spectral detail, pitch, energy. It carries
  emotion as well as content; the AU decoder is pulled toward the clip's Action Units from here.
- mid level (50 Hz, 128 ch, ~0.25 s): syllable-scale prosody, feeding PosNet.
- high level (50 Hz, 128 ch, ~0.9 s, dilations 2/4/8): the content features driving the lips.
Normalisation is a per-time-step LayerNorm (no BatchNorm: batch-independent, DDP-safe, and no
utterance statistics leak into a frame).

Fine-grained window controller. Video frame i sits at time t_i = i / fps; each level's features
are pooled over the audio window [t_i - w/2, t_i + w/2] with w = max(window_ms, 1 / fps), read
at `window_taps` evenly spaced points by linear interpolation and mixed with learned per-level
tap weights. So a 24 fps frame integrates the audio of its whole frame interval (no aliasing),
a 60 fps frame keeps a minimum context, the model learns where in the window to look (lips lead
the sound), and every exact rational frame rate is served by the same weights.

Action-Unit decoupling (the "visual attribute-guided audio decoupler"). One AU decoder D
(2-layer MLP, shared) reads both levels through a per-level linear adapter:
- pull: D(P_low(low)) regresses the clip's AU activations per frame (MSE) and identifies its
  own clip among the batch (InfoNCE over negative squared AU distances, temperature tau);
- probe: P_high learns (encoder features detached, D frozen) to read the AUs from the content
  features as well as it can;
- push: the high-level encoder is trained (D and P_high frozen) so that this read-out cannot
  tell its own clip's AUs from the others': cross-entropy between the similarity distribution
  and the uniform one. Pushing to "uniform" rather than "far" has a floor (it cannot be won by
  encoding the emotion inverted) and makes the probe/encoder pair a min-max game.

Emotion-intensity matrix with a sliding window. Per category c a sequence of non-negative
codes m[c, 0..L] in R^D (D = 32, L = trained levels, 3 as in MEAD) with m[c, 0] = 0 and
m[c, l] = sum_{k<=l} r[c, k]^2, so every coordinate rises with the level. Beyond L the
sequence continues with the last step shrinking geometrically (factor rho = 0.5): a finite
ceiling one level-step above the top. Intensity s maps to position x = s * L; a Gaussian window
(sigma = 0.5 levels) slides along the sequence and the code is the window-weighted mean minus
its value at x = 0. Because the Gaussian weights form an exponential family in x, the weighted
mean of a non-decreasing sequence is non-decreasing in x (its derivative is a covariance), so
codes are smooth, exactly 0 at intensity 0, monotone, and bounded above the top level.
Categories blend by adding their codes.

Heads, one per FaceTrack layer (channels each layer may use are learned from the corpus and
stored as masks):
- ExpNet -> `lips`: MLP on the pooled high-level (content) features only, so mouth shapes come
  from what is said and not from how it is said.
- EmoNet -> `emotion`: codes @ atoms (32 ARKit atoms, non-negative squares on the blendshapes,
  signed on head pose), times a per-frame, per-channel gain in (0, 2) read from the content
  features with their gradient stopped (it may follow what is said, e.g. less lip parting
  while the lips close, but can neither pull emotion into the content features nor read the
  emotion from the voice, which would let the audio override the requested emotion).
  Non-negative atoms and an intensity-free gain make every blendshape of the layer
  non-decreasing in every category's intensity, by construction.
- PosNet -> `head`: MLP on mid-level features and the emotion code (prosody nods, emotion
  posture).
- eyes (blinks, gaze) are not predictable from audio; the engine takes them from the default
  engine's seeded eyes pass (see engine.py).

The heads are 3-layer MLPs (128 hidden, GELU); the AU adapters map to 64 dims. With the
defaults the network has 0.61 M parameters (2.5 MB as float32).

Losses (see losses.py, weights in LossWeights): per layer, mean squared error plus mean
squared error of the frame-to-frame velocity (MSE, not L1: most channels are zero most of the
time and L1's median solution is to never move them), on the channels the layer uses; the AU
terms above, the push ramped in after `push_start` steps so the probe has something to probe.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...channels import ALL_CHANNELS, is_blendshape
from ...emotion import EMOTIONS, MAX_INTENSITY

HEAD_LAYERS: tuple[str, ...] = ("lips", "emotion", "head")
SPEECH_PREFIXES = ("jaw", "mouth", "cheekPuff", "tongueOut")
EYE_PREFIXES = ("eyeBlink", "eyeLook")  # the eyes layer: blinks and gaze, not from audio


def default_layer_channels() -> dict[str, tuple[str, ...]]:
    """Head channels for corpora without engine layers (video fits): mouth and jaw for the
    lips, every other blendshape but blinks and gaze for emotion, head pose for the head."""
    blend = [c for c in ALL_CHANNELS if is_blendshape(c) and not c.startswith(EYE_PREFIXES)]
    return {
        "lips": tuple(c for c in blend if c.startswith(SPEECH_PREFIXES)),
        "emotion": tuple(blend),
        "head": tuple(c for c in ALL_CHANNELS if not is_blendshape(c)),
    }


@dataclass
class ModelConfig:
    """Hyper-parameters; stored in every checkpoint so a model rebuilds itself."""

    sample_rate: int = 16000
    n_mels: int = 80
    n_fft: int = 400
    hop: int = 160
    norm_seconds: float = 3.0  # sliding per-band mean removed from the log-mel (0: none)
    freq_masks: int = 2  # SpecAugment-style band masks, training only
    freq_mask_bands: int = 8
    band_warp: float = 0.12  # training only: mel axis stretched by 1 +- this (VTLP)
    low_dim: int = 96
    mid_dim: int = 128
    high_dim: int = 128
    window_ms: float = 80.0
    window_taps: int = 7
    levels: int = 3
    code_dim: int = 32
    level_sigma: float = 0.5
    extrapolation_decay: float = 0.5
    head_hidden: int = 128
    au_dim: int = 64
    au_names: tuple[str, ...] = ()
    channels: tuple[str, ...] = ALL_CHANNELS
    # which channels each head writes, by name (default: all of them)
    layer_channels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model settings {unknown}; known: {sorted(known)}")
        data = dict(data)
        for key in ("au_names", "channels"):
            if key in data:
                data[key] = tuple(data[key])
        if "layer_channels" in data:
            data["layer_channels"] = {k: tuple(v) for k, v in data["layer_channels"].items()}
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["au_names"] = list(self.au_names)
        out["channels"] = list(self.channels)
        out["layer_channels"] = {k: list(v) for k, v in self.layer_channels.items()}
        return out

    @property
    def mel_rate(self) -> float:
        return self.sample_rate / self.hop


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-style mel filterbank [n_mels, n_fft // 2 + 1] (area-normalised triangles)."""

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        hz = np.asarray(hz, dtype=np.float64)
        linear = hz / (200.0 / 3)
        log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(hz >= 1000.0, log_part, linear)

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        linear = mel * (200.0 / 3)
        log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
        return np.where(mel >= 15.0, log_part, linear)

    fft_hz = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    lower = (fft_hz[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    upper = (edges[2:, None] - fft_hz[None, :]) / np.diff(edges)[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


class MelFrontEnd(nn.Module):
    """Samples [B, N] -> normalised log-mel [B, n_mels, T], frame j centred at j * hop."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_fft, self.hop = cfg.n_fft, cfg.hop
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels)
        self.register_buffer("filters", torch.from_numpy(fb), persistent=False)
        self.register_buffer("mean", torch.zeros(cfg.n_mels))
        self.register_buffer("std", torch.ones(cfg.n_mels))
        self.norm_frames = int(round(cfg.norm_seconds * cfg.mel_rate)) // 2 * 2 + 1  # odd
        self.masks, self.mask_bands = cfg.freq_masks, cfg.freq_mask_bands
        self.warp = cfg.band_warp

    def log_mel(self, samples: torch.Tensor) -> torch.Tensor:
        with torch.autocast(samples.device.type, enabled=False):
            spec = torch.stft(
                samples.float(),
                self.n_fft,
                self.hop,
                window=self.window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            )
            power = spec.real.square() + spec.imag.square()
            return torch.log(self.filters @ power + 1e-5)

    def centred(self, samples: torch.Tensor) -> torch.Tensor:
        """Log-mel minus its sliding per-band mean: microphone, room and level removed."""
        mel = self.log_mel(samples)
        if self.norm_frames < 3:
            return mel
        local = F.avg_pool1d(
            mel,
            self.norm_frames,
            stride=1,
            padding=self.norm_frames // 2,
            count_include_pad=False,
        )
        return mel - local

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        mel = (self.centred(samples) - self.mean[:, None]) / self.std[:, None]
        if self.training and self.warp > 0:
            mel = warp_bands(mel, self.warp)
        if self.training and self.masks > 0:
            mel = mask_bands(mel, self.masks, self.mask_bands)
        return mel


def warp_bands(mel: torch.Tensor, amount: float) -> torch.Tensor:
    """Stretch each example's mel axis by a random factor in [1 - amount, 1 + amount]: formants
    and harmonics move as between a short and a long vocal tract (VTLP), a cheap new speaker."""
    b, n, _ = mel.shape
    factor = 1.0 + amount * (2 * torch.rand(b, 1, device=mel.device) - 1)
    source = (torch.arange(n, device=mel.device) * factor).clamp(max=n - 1)  # [B, n]
    low = source.floor().long()
    high = (low + 1).clamp(max=n - 1)
    frac = (source - low).to(mel.dtype)[..., None]
    pick = lambda index: mel.gather(1, index[..., None].expand(-1, -1, mel.shape[2]))  # noqa: E731
    return pick(low) * (1 - frac) + pick(high) * frac


def mask_bands(mel: torch.Tensor, count: int, width: int) -> torch.Tensor:
    """Zero `count` random bands of up to `width` mel channels per example (SpecAugment)."""
    b, n, _ = mel.shape
    band = torch.arange(n, device=mel.device)
    keep = torch.ones(b, n, 1, device=mel.device, dtype=mel.dtype)
    for _ in range(count):
        size = torch.randint(0, width + 1, (b, 1), device=mel.device)
        start = (torch.rand(b, 1, device=mel.device) * (n - size)).long()
        hit = (band >= start) & (band < start + size)
        keep = keep * (~hit).to(mel.dtype)[..., None]
    return mel * keep


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over channels at each time step of a [B, C, T] tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ResBlock(nn.Module):
    """Pre-norm residual temporal convolution."""

    def __init__(self, dim: int, kernel: int = 3, dilation: int = 1):
        super().__init__()
        self.norm = ChannelNorm(dim)
        pad = dilation * (kernel - 1) // 2
        self.conv = nn.Conv1d(dim, dim, kernel, padding=pad, dilation=dilation)
        self.mix = nn.Conv1d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(F.gelu(self.conv(self.norm(x))))


class AudioEncoder(nn.Module):
    """Log-mel -> (low @ mel rate, mid @ half, high @ half)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.low = nn.Sequential(
            nn.Conv1d(cfg.n_mels, cfg.low_dim, 5, padding=2), nn.GELU(), ResBlock(cfg.low_dim, 5)
        )
        self.mid = nn.Sequential(
            ChannelNorm(cfg.low_dim),
            nn.Conv1d(cfg.low_dim, cfg.mid_dim, 4, stride=2, padding=1),
            ResBlock(cfg.mid_dim, 3, 1),
            ResBlock(cfg.mid_dim, 3, 2),
        )
        self.high = nn.Sequential(
            nn.Conv1d(cfg.mid_dim, cfg.high_dim, 1),
            *(ResBlock(cfg.high_dim, 3, d) for d in (2, 4, 8)),
            ChannelNorm(cfg.high_dim),
        )

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        low = self.low(mel)
        mid = self.mid(low)
        return low, mid, self.high(mid)


class WindowController(nn.Module):
    """Pools each level's features over the audio window of every video frame (see module doc)."""

    LEVELS = ("low", "mid", "high")

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.min_window = cfg.window_ms / 1000.0
        taps = torch.linspace(-0.5, 0.5, cfg.window_taps)
        self.register_buffer("taps", taps, persistent=False)
        start = -(taps**2) / (2 * 0.25**2)  # centre-weighted at initialisation
        self.tap_logits = nn.Parameter(start.repeat(len(self.LEVELS), 1))
        # feature frame j of a level sits at time (j * stride + offset) / mel_rate
        self.mel_rate = cfg.mel_rate
        self.geometry = {"low": (1.0, 0.0), "mid": (2.0, 0.5), "high": (2.0, 0.5)}

    def window(self, frame_period: torch.Tensor) -> torch.Tensor:
        return frame_period.clamp(min=self.min_window)

    def forward(
        self, level: str, feats: torch.Tensor, times: torch.Tensor, frame_period: torch.Tensor
    ) -> torch.Tensor:
        """feats [B, C, T], times [B, F] s, frame_period [B] s -> [B, F, C]."""
        stride, offset = self.geometry[level]
        b, c, t = feats.shape
        width = self.window(frame_period)[:, None, None]
        at = times[:, :, None] + width * self.taps  # [B, F, K]
        pos = (at * self.mel_rate - offset) / stride
        if t == 1:
            feats = torch.cat([feats, feats], dim=2)
            t = 2
        grid_x = pos.clamp(0, t - 1) * (2.0 / (t - 1)) - 1.0
        grid = torch.stack([grid_x, torch.zeros_like(grid_x)], dim=-1)
        grid = grid.reshape(b, 1, -1, 2).to(feats.dtype)
        sampled = F.grid_sample(feats[:, :, None, :], grid, align_corners=True)
        sampled = sampled.reshape(b, c, times.shape[1], -1)
        weights = self.tap_logits[self.LEVELS.index(level)].softmax(-1).to(sampled.dtype)
        return (sampled * weights).sum(-1).transpose(1, 2)


class IntensityMatrix(nn.Module):
    """Category x level code matrix with a Gaussian sliding window (see module doc)."""

    def __init__(self, cfg: ModelConfig, categories: int = len(EMOTIONS)):
        super().__init__()
        self.levels = cfg.levels
        self.sigma = cfg.level_sigma
        self.decay = cfg.extrapolation_decay
        # non-negative as squares: Adam's steps then move them at a useful pace from zero to
        # one (a softplus tail would need thousands of steps to leave zero)
        self.steps = nn.Parameter(0.3 + 0.1 * torch.randn(categories, cfg.levels, cfg.code_dim))
        extra = math.ceil(MAX_INTENSITY * cfg.levels) + 4  # beyond the largest legal intensity
        self.register_buffer("positions", torch.arange(cfg.levels + 1 + extra, dtype=torch.float32))
        ratios = torch.tensor([self.decay**i for i in range(1, extra + 1)])
        self.register_buffer("extension", ratios.cumsum(0), persistent=False)

    def sequence(self) -> torch.Tensor:
        """m[c, p] for positions p = 0 .. levels + extra: [C, P, D], non-decreasing in p."""
        steps = self.steps.square()
        trained = steps.cumsum(1)
        beyond = trained[:, -1:] + steps[:, -1:] * self.extension[None, :, None]
        zero = torch.zeros_like(trained[:, :1])
        return torch.cat([zero, trained, beyond], dim=1)

    def window_weights(self, x: torch.Tensor) -> torch.Tensor:
        return (-((self.positions - x[..., None]) ** 2) / (2 * self.sigma**2)).softmax(-1)

    def forward(self, intensities: torch.Tensor) -> torch.Tensor:
        """Intensities [..., C] (0 none, 1 top trained level, above allowed) -> codes [..., D]."""
        seq = self.sequence()
        x = intensities.float().clamp(min=0) * self.levels
        per_category = torch.einsum("...cp,cpd->...cd", self.window_weights(x), seq)
        at_zero = torch.einsum("p,cpd->cd", self.window_weights(x.new_zeros(())), seq)
        per_category = (per_category - at_zero).clamp(min=0)
        return torch.where(x[..., None] > 0, per_category, 0.0).sum(-2)


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
        nn.Linear(hidden, outputs),
    )  # fmt: skip


class EmoSpeakerNet(nn.Module):
    """The whole model; `forward` is the training/inference path, the parts are public."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        n_ch = len(cfg.channels)
        self.front = MelFrontEnd(cfg)
        self.encoder = AudioEncoder(cfg)
        self.controller = WindowController(cfg)
        self.matrix = IntensityMatrix(cfg)
        self.exp_net = mlp(cfg.high_dim, cfg.head_hidden, n_ch)
        blend = torch.tensor([is_blendshape(c) for c in cfg.channels])
        # blendshape atoms are raw**2 (non-negative); head atoms are signed and start near 0
        self.emo_atoms = nn.Parameter(0.1 * torch.randn(cfg.code_dim, n_ch))
        self.emo_gain = mlp(cfg.high_dim, cfg.head_hidden // 2, n_ch)
        self.pos_net = mlp(cfg.mid_dim + cfg.code_dim, cfg.head_hidden, n_ch)
        n_au = max(1, len(cfg.au_names))
        self.au_low = nn.Linear(cfg.low_dim, cfg.au_dim)
        self.au_high = nn.Linear(cfg.high_dim, cfg.au_dim)
        self.au_decoder = nn.Sequential(
            nn.GELU(), nn.Linear(cfg.au_dim, cfg.au_dim), nn.GELU(), nn.Linear(cfg.au_dim, n_au)
        )
        self.register_buffer("blendshape", blend, persistent=False)
        for layer in HEAD_LAYERS:
            names = set(cfg.layer_channels.get(layer, cfg.channels))
            mask = torch.tensor([c in names for c in cfg.channels], dtype=torch.float32)
            self.register_buffer(f"mask_{layer}", mask, persistent=False)
        nn.init.zeros_(self.emo_gain[-1].weight)
        nn.init.zeros_(self.emo_gain[-1].bias)

    def mask(self, layer: str) -> torch.Tensor:
        return getattr(self, f"mask_{layer}")

    def features(
        self, samples: torch.Tensor, times: torch.Tensor, frame_period: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Per-frame pooled low/mid/high features, each [B, F, C]."""
        levels = self.encoder(self.front(samples))
        return {
            name: self.controller(name, feats, times, frame_period)
            for name, feats in zip(WindowController.LEVELS, levels, strict=True)
        }

    def atoms(self) -> torch.Tensor:
        raw = self.emo_atoms
        return torch.where(self.blendshape, raw.square(), 0.1 * raw)

    def layers(
        self, feats: dict[str, torch.Tensor], curves: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Per-frame features + emotion curves [B, F, 8] -> layers, each [B, F, channels]."""
        codes = self.matrix(curves)
        # the gain reads the content features, detached: it can follow what is said (less
        # smile while the lips close) but cannot recover the emotion from the voice
        gain = 2.0 * torch.sigmoid(self.emo_gain(feats["high"].detach()))
        emotion = (codes @ self.atoms().to(codes.dtype)) * gain
        head = self.pos_net(torch.cat([feats["mid"], codes.to(feats["mid"].dtype)], -1))
        return {
            "lips": self.exp_net(feats["high"]) * self.mask("lips"),
            "emotion": emotion * self.mask("emotion"),
            "head": head * self.mask("head"),
        }

    def action_units(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """AU activations decoded from the low-level features: [B, F, AUs]."""
        return self.au_decoder(self.au_low(feats["low"]))

    def forward(
        self,
        samples: torch.Tensor,
        times: torch.Tensor,
        frame_period: torch.Tensor,
        curves: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        feats = self.features(samples, times, frame_period)
        return self.layers(feats, curves)
