"""Neural-engine data: the synthetic corpus, AU read-out, crops and sharding, MEAD layout."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from emospeaker.emotion import EMOTIONS
from emospeaker.engines.default.emotion import emotion_layer
from emospeaker.errors import InputError
from emospeaker.metrics import lips_closed
from emospeaker.speech.phones import BILABIALS
from emospeaker.track import FaceTrack, frame_count
from emospeaker.train.au import AU_NAMES, aus_from_curves, aus_from_values
from emospeaker.train.config import DataConfig
from emospeaker.train.corpus import Corpus
from emospeaker.train.data import CropStream, crop, mix_clips
from emospeaker.train.mead import find_flat_videos, find_videos
from neural_toy import make_toy_corpus


@pytest.fixture(scope="module")
def synth_corpus(tmp_path_factory):
    from emospeaker.train.synthetic import build_corpus

    root = tmp_path_factory.mktemp("synth") / "corpus"
    build_corpus(root, 4, seed=3, voices=["en-us", "en-us+f1"], command="test")
    return root


def test_synthetic_corpus_clips_are_consistent(synth_corpus):
    corpus = Corpus(synth_corpus)
    manifest = json.loads((synth_corpus / "manifest.json").read_text())
    assert manifest["complete"] and manifest["seed"] == 3 and manifest["command"] == "test"
    clips = corpus.load()
    assert [c.emotion for c in clips] == list(EMOTIONS[:4])
    assert corpus.au_names == AU_NAMES
    for clip in clips:
        assert clip.frames == frame_count(Fraction(len(clip.audio), 16000), clip.fps)
        assert set(clip.layers) == {"lips", "emotion", "head", "eyes"}
        assert all(v.shape == (clip.frames, 58) for v in clip.layers.values())
        assert clip.phones[0][2] == "SIL" and clip.phones[0][0] == 0.0
        # the lips close on every bilabial of the exact phone timings
        closed = lips_closed(FaceTrack(clip.fps, clip.layers))
        for start, end, phone in clip.phones:
            if phone in BILABIALS:
                lo = int(np.floor(start * float(clip.fps))) - 1
                hi = int(np.ceil(end * float(clip.fps))) + 1
                assert closed[max(lo, 0) : hi + 1].any(), (clip.id, phone, start)
        curves = np.zeros((clip.frames, 8), np.float32)
        curves[:, EMOTIONS.index(clip.emotion)] = clip.intensity
        np.testing.assert_allclose(clip.aus, aus_from_curves(curves), atol=1e-6)


def test_rerun_finishes_a_corpus_without_redoing_clips(synth_corpus):
    from emospeaker.train.synthetic import build_corpus

    first = synth_corpus / "clips" / "syn00000.npz"
    stamp = first.stat().st_mtime_ns
    build_corpus(synth_corpus, 5, seed=3, voices=["en-us", "en-us+f1"], command="test")
    assert first.stat().st_mtime_ns == stamp
    assert len(Corpus(synth_corpus).entries()) == 5


def test_rerun_with_another_recipe_redoes_the_clips(tmp_path):
    from emospeaker.train.synthetic import build_corpus

    build_corpus(tmp_path, 1, seed=3, voices=["en-us"])
    first = tmp_path / "clips" / "syn00000.npz"
    stamp = first.stat().st_mtime_ns
    build_corpus(tmp_path, 1, seed=4, voices=["en-us"])
    assert first.stat().st_mtime_ns != stamp
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["seed"] == 4 and manifest["targets"].startswith("default engine ")


def test_incomplete_corpus_is_refused(tmp_path):
    root = make_toy_corpus(tmp_path / "toy", clips=2)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest.update(complete=False, command="emospeaker corpus synth toy")
    (root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="incomplete.*emospeaker corpus synth toy"):
        Corpus(root)


@pytest.mark.parametrize("emotion", [e for e in EMOTIONS if e != "neutral"])
def test_aus_read_back_exactly_from_the_default_emotion_layer(emotion):
    curves = np.zeros((4, 8))
    curves[:, EMOTIONS.index(emotion)] = [0.2, 0.7, 1.0, 2.5]
    layer = emotion_layer(curves, np.zeros(4))
    np.testing.assert_allclose(aus_from_values(layer), aus_from_curves(curves), atol=1e-4)


def test_crop_keeps_audio_and_frames_aligned(tmp_path):
    clip = Corpus(make_toy_corpus(tmp_path / "toy", clips=1)).load()[0]
    item = crop(clip, 10, 20, context=0.25)
    assert item["times"].shape == (20,) and item["lips"].shape == (20, 58)
    # the crop's sample at times[k] is the clip's sample at frame (10 + k)
    for k in (0, 7, 19):
        inside = int(round(item["times"][k] * 16000))
        original = int(round((10 + k) / float(clip.fps) * 16000))
        assert item["samples"][inside] == clip.audio[original]
    np.testing.assert_array_equal(item["lips"], clip.layers["lips"][10:30])
    start = crop(clip, 0, 5, context=0.25)  # before the clip: silence, not garbage
    assert np.all(start["samples"][: int(0.25 * 16000) - 1] == 0)


def test_crop_stream_shards_are_disjoint_and_equal(tmp_path):
    clips = Corpus(make_toy_corpus(tmp_path / "toy", clips=10)).load()
    cfg = DataConfig(augment=False)

    def first_epoch(rank):
        stream = iter(CropStream(clips, cfg, seed=1, rank=rank, world=2))
        return [next(stream)["samples"].sum() for _ in range(5)]

    a, b = set(np.round(first_epoch(0), 4)), set(np.round(first_epoch(1), 4))
    assert len(a) == len(b) == 5 and not a & b  # each shard: half the clips, no repeats


def test_mead_layout_is_parsed_and_checked(tmp_path):
    for rel in ("M003/video/front/happy/level_2/001.mp4", "W009/video/front/sad/level_3/014.mp4",
                "W009/video/front/bored/level_1/001.mp4"):  # fmt: skip
        path = tmp_path / rel
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
    with pytest.warns(UserWarning, match="bored"):
        items = find_videos(tmp_path)
    assert [(i.speaker, i.emotion, i.level, i.utterance) for i in items] == [
        ("M003", "happy", 2, "001"),
        ("W009", "sad", 3, "014"),
    ]
    assert items[0].id == "M003_happy_2_001"
    with pytest.raises(InputError, match="no videos in the MEAD layout"):
        find_videos(tmp_path / "M003" / "video")


def write_talking_video(path, speech, with_audio: bool = True) -> None:
    """A still portrait (Grace Hopper) as a 25 fps video of `speech`'s length."""
    import matplotlib
    from PIL import Image

    from emospeaker.audio import Audio
    from emospeaker.render.video import write_video

    photo = f"{matplotlib.get_data_path()}/sample_data/grace_hopper.jpg"
    photo = np.asarray(Image.open(photo).convert("RGB"))[::2, ::2].copy()  # 300 x 256
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(np.ceil(speech.duration * 25))
    write_video(path, (photo for _ in range(frames)), Fraction(25),
                Audio(speech.samples) if with_audio else None)  # fmt: skip


@pytest.fixture(scope="module")
def speech():
    from emospeaker.speech import synthesize

    return synthesize("Hello there.", "en-us").audio


def test_mead_videos_become_fitted_clips(tmp_path, speech):
    """Real MediaPipe tracking and face fitting on two tiny MEAD-layout videos."""
    import soundfile

    from emospeaker.train.mead import build_mead_corpus

    root = tmp_path / "mead"
    for emotion, level, utterance, with_audio in (("neutral", 1, "001", True),
                                                  ("happy", 2, "010", False)):  # fmt: skip
        video = root / "S01" / "video" / "front" / emotion / f"level_{level}" / f"{utterance}.mp4"
        write_talking_video(video, speech, with_audio)
        if not with_audio:  # MEAD's separate audio folder
            sound = root / "S01" / "audio" / emotion / f"level_{level}" / f"{utterance}.wav"
            sound.parent.mkdir(parents=True)
            soundfile.write(sound, speech.samples, 16000)
    manifest, skipped = build_mead_corpus(root, tmp_path / "corpus")
    assert skipped == []
    corpus = Corpus(tmp_path / "corpus")
    clips = {c.id: c for c in corpus.load()}
    assert set(clips) == {"S01_neutral_1_001", "S01_happy_2_010"}
    happy = clips["S01_happy_2_010"]
    assert happy.intensity == pytest.approx(2 / 3) and happy.split == "val"  # 010: every tenth
    assert clips["S01_neutral_1_001"].split == "train"
    assert set(happy.layers) == {"combined"} and happy.layers["combined"].shape[1] == 58
    assert happy.aus.shape == (happy.frames, len(AU_NAMES)) and happy.fps == 25
    assert abs(len(happy.audio) / 16000 - speech.duration) < 0.05
    assert (tmp_path / "corpus" / "neutral" / "S01.npy").is_file()


def test_a_folder_of_clips_becomes_a_corpus_of_one_emotion(tmp_path, speech, run_cli):
    """`corpus videos`: each clip against its own rest, held out by name, as the CLI runs it."""
    for name in ("grid_a.mp4", "grid_b.mp4", "other.mp4"):
        write_talking_video(tmp_path / "clips" / name, speech)
    out = tmp_path / "corpus"
    run_cli("corpus", "videos", str(tmp_path / "clips"), str(out), "--match", "grid_*",
            "--val-match", "*_b.mp4", "--quiet")  # fmt: skip
    clips = {c.id: c for c in Corpus(out).load()}
    assert sorted(clips) == ["grid_a", "grid_b"]
    assert clips["grid_a"].split == "train" and clips["grid_b"].split == "val"
    assert clips["grid_a"].emotion == "neutral"
    assert clips["grid_a"].intensity == pytest.approx(1 / 3)
    assert set(clips["grid_a"].layers) == {"combined"}
    assert not (out / "neutral").exists()  # no speaker neutral: each clip's own rest
    with pytest.raises(InputError, match="no videos match 'nothing\\*'"):
        find_flat_videos(tmp_path / "clips", "nothing*")
    with pytest.raises(InputError, match="emotion 'bored' is not one of neutral"):
        find_flat_videos(tmp_path / "clips", emotion="bored")
    (tmp_path / "clips" / "sub").mkdir()
    write_talking_video(tmp_path / "clips" / "sub" / "grid_a.mp4", speech)
    with pytest.raises(InputError, match="clips would share a name \\(grid_a\\)"):
        find_flat_videos(tmp_path / "clips", "**/grid_*")
    bad = run_cli("corpus", "videos", str(tmp_path / "clips"), str(tmp_path / "bad"),
                  "--level", "4", check=False)  # fmt: skip
    assert bad.returncode != 0 and "level 4 must be between 1 and levels (3)" in bad.stderr


def test_mixed_corpora_supply_their_shares_of_the_crops(tmp_path):
    corpus = Corpus(make_toy_corpus(tmp_path / "big", clips=40))
    big, small = corpus.load("train"), corpus.load("train")[:4]
    for shares in ((0.75, 0.25), (0.5, 0.5), (0.6, 0.4)):
        mixed = mix_clips([big, small], shares, seed=1)
        from_small = sum(c is s for c in mixed for s in small)
        assert abs(from_small / len(mixed) - shares[1]) < 1.5 / len(mixed), shares
        assert {id(c) for c in mixed} >= {id(c) for c in big + small}  # nobody left out
    assert len(big) == 35 and mix_clips([big, small]) == big + small
    again = mix_clips([big, small], (0.6, 0.4), seed=1)
    assert [c.id for c in again] == [c.id for c in mix_clips([big, small], (0.6, 0.4), seed=1)]


def test_corpus_targets_are_what_the_default_engine_makes_from_those_phones(monkeypatch):
    """The generator composes the default engine's passes itself (it has exact phones, the
    engine finds them); handing the engine the same phones must give the same layers."""
    from emospeaker.api import animate
    from emospeaker.engines.default import engine as default_engine
    from emospeaker.engines.default.timing import Timing
    from emospeaker.speech import synthesize
    from emospeaker.train.synthetic import engine_targets

    utt = synthesize("Bob moved the maps.", "en-us")
    phones = list(utt.phones)
    monkeypatch.setattr(default_engine, "find_phones", lambda *a, **k: Timing(phones, "exact"))
    curves = np.zeros((int(np.ceil(utt.duration * 25)), 8), np.float32)
    curves[:, EMOTIONS.index("surprised")] = 0.8
    track = animate(utt.audio, curves, fps=25, engine="default", seed=11)
    targets = engine_targets(utt.audio.samples, phones, Fraction(25), curves, seed=11)
    for name in ("lips", "emotion", "head", "eyes"):
        np.testing.assert_allclose(targets[name], track.layers[name], atol=1e-6, err_msg=name)
