"""`emospeaker batch`: manifests, bit-identity with `animate`, resume, failures, shards, Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import cli_env
from emospeaker.batch import BadRow, Line, parse_shard, read_manifest, select_shard
from emospeaker.errors import InputError
from emospeaker.formats import load_track

SENTENCES = (
    "Where were you last night?",
    "I waited for hours by the old bridge.",
    "Never mind, we have work to do.",
)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """Three short spoken lines (the project's own synthesis) with their transcripts."""
    from emospeaker.speech import synthesize

    folder = tmp_path_factory.mktemp("speech")
    for i, text in enumerate(SENTENCES):
        sf.write(folder / f"line{i}.wav", synthesize(text, "en-us").audio.samples, 16000)
        (folder / f"line{i}.txt").write_text(text)
    return folder


def _manifest(folder: Path, rows: list[str], name: str = "manifest.csv") -> Path:
    header = "audio,transcript,emotion,fps,start_frame,seed,options,output,format"
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


GOOD = [
    "line0.wav,line0.txt,happy:0.8,24,,,,hero/a,json",
    'line1.wav,,"0s=neutral:0,1s=sad:1@linear",30000/1001,1001,7,recognizer=fast,b.npz,',
    "line2.wav,line2.txt,,25,,,lip_gain=1.3,c,csv",
]
ANIMATE_ARGS = [
    ["line0.wav", "--transcript", "line0.txt", "--emotion", "happy:0.8", "--fps", "24"],
    ["line1.wav", "--emotion-keys", "0s=neutral:0,1s=sad:1@linear", "--fps", "30000/1001",
     "--start-frame", "1001", "--seed", "7", "--option", "recognizer=fast"],
    ["line2.wav", "--transcript", "line2.txt", "--fps", "25", "--option", "lip_gain=1.3"],
]  # fmt: skip
OUTPUTS = ["hero/a.json", "b.npz", "c.csv"]
BAD = [
    "missing.wav,,,,,,,d,",
    "line0.wav,,grumpy:2,,,,,e,",
    "line1.wav,,,,soon,,,f,",
    "line2.wav,,,,,,,hero/a.json,",
]


def _batch(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emospeaker", "batch", *args],
        capture_output=True, text=True, env=cli_env(), cwd=folder, timeout=300,
    )  # fmt: skip


def test_template_is_a_manifest_and_both_forms_agree(run_cli, tmp_path):
    parsed = {}
    for form in ("csv", "jsonl"):
        text = run_cli("batch", "--template", form).stdout
        (tmp_path / f"t.{form}").write_text(text)
        parsed[form] = read_manifest(tmp_path / f"t.{form}")
    assert all(isinstance(line, Line) for line in parsed["csv"]) and len(parsed["csv"]) == 3
    assert parsed["csv"] == parsed["jsonl"]
    second = parsed["csv"][1]
    assert second.output == "act1/hero_0002.npz" and second.start_frame == 1001
    assert second.options == {"lip_gain": "1.2", "recognizer": "fast"}
    assert second.audio == str(tmp_path / "lines" / "hero_0002.wav")  # against the manifest
    assert parsed["csv"][2].output == "villain_0001.csv"


def test_bad_rows_are_named_and_bad_manifests_refused(tmp_path):
    rows = read_manifest(_manifest(tmp_path, [",,happy:1,,,,,x,", *BAD, "a.wav,,,,,,,../up,"]))
    messages = {row.row: row.message for row in rows if isinstance(row, BadRow)}
    assert "no audio" in messages[1]
    assert "start_frame 'soon'" in messages[4]
    assert "also written by row" not in messages.get(5, "")  # row 5 is the first hero/a.json
    assert "inside OUTDIR" in messages[6]
    (tmp_path / "odd.csv").write_text("audio,mood\nx.wav,happy\n")
    with pytest.raises(InputError, match="unknown column.*mood"):
        read_manifest(tmp_path / "odd.csv")
    (tmp_path / "m.txt").write_text("audio\nx.wav\n")
    with pytest.raises(InputError, match=r"\.csv or \.jsonl"):
        read_manifest(tmp_path / "m.txt")


def test_batch_is_bit_identical_to_animate_resumes_and_reports_failures(speech, tmp_path):
    manifest = _manifest(speech, GOOD + BAD)
    out = tmp_path / "out"
    first = _batch(speech, str(manifest), "-o", str(out))
    assert first.returncode == 1, first.stderr
    assert "3 done, 0 already current, 4 failed of 7 lines" in first.stderr
    failures = [json.loads(x) for x in (out / "failures.jsonl").read_text().splitlines()]
    assert [f["row"] for f in failures] == [4, 5, 6, 7]
    assert "missing.wav: no such audio file" in failures[0]["error"]
    assert "unknown emotion 'grumpy'" in failures[1]["error"]
    assert failures[1]["field"] == "emotion"
    assert "start_frame 'soon'" in failures[2]["error"]
    assert "also written by row 1" in failures[3]["error"]

    for args, output in zip(ANIMATE_ARGS, OUTPUTS, strict=True):
        alone = tmp_path / Path(output).name
        proc = subprocess.run(
            [sys.executable, "-m", "emospeaker", "animate", *args, "-o", str(alone), "-q"],
            env=cli_env(), cwd=speech, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert (out / output).read_bytes() == alone.read_bytes(), output

    stamps = {o: (out / o).stat().st_mtime_ns for o in OUTPUTS}
    again = _batch(speech, str(manifest), "-o", str(out))
    assert "0 done, 3 already current, 4 failed" in again.stderr
    assert stamps == {o: (out / o).stat().st_mtime_ns for o in OUTPUTS}

    changed = _manifest(speech, [GOOD[0].replace("happy:0.8", "happy:0.7"), *GOOD[1:]])
    redo = _batch(speech, str(changed), "-o", str(out))
    assert redo.returncode == 0 and "1 done, 2 already current, 0 failed" in redo.stderr
    assert not (out / "failures.jsonl").exists()
    assert load_track(out / OUTPUTS[0]).emotion[0, 5] == pytest.approx(0.7)
    before = {o: (out / o).read_bytes() for o in OUTPUTS}
    forced = _batch(speech, str(changed), "-o", str(out), "--force", "--jobs", "1")
    assert "3 done, 0 already current" in forced.stderr  # one process, same bytes
    assert before == {o: (out / o).read_bytes() for o in OUTPUTS}


def test_shards_partition_the_manifest(speech, tmp_path):
    rows = read_manifest(_manifest(speech, GOOD + BAD))
    slices = [select_shard(rows, (i, 3)) for i in (1, 2, 3)]
    assert sorted(r.row for s in slices for r in s) == [r.row for r in rows]
    assert [r.row for r in slices[1]] == [2, 5]
    with pytest.raises(InputError, match="I/N"):
        parse_shard("4/3")
    proc = _batch(speech, "manifest.csv", "-o", str(tmp_path), "--shard", "2/3")
    assert proc.returncode == 1 and "1 done, 0 already current, 1 failed of 2" in proc.stderr
    assert (tmp_path / "b.npz").is_file() and not (tmp_path / "c.csv").exists()
    shard_failures = (tmp_path / "failures.shard-2-of-3.jsonl").read_text().splitlines()
    assert [json.loads(x)["row"] for x in shard_failures] == [5]


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(speech, tmp_path):
    rows = [f"line{i % 3}.wav,,happy:{(i % 10) / 10},,,,,n{i:03d}," for i in range(120)]
    manifest = _manifest(tmp_path, [], "many.csv")
    manifest.write_text(manifest.read_text().replace("\n", "").strip() + "\n")
    with manifest.open("a") as f:
        f.writelines(row.replace("line", str(speech / "line")) + "\n" for row in rows)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emospeaker", "batch", str(manifest), "-o", str(out)],
        env=cli_env(), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(out.glob("n*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted; run again to resume" in stderr
    written = sorted(out.glob("n*.json"))
    assert 0 < len(written) < 120
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial files
    for path in written:
        load_track(path)
    resumed = _batch(tmp_path, str(manifest), "-o", str(out), "-q")
    assert resumed.returncode == 0
    assert len(list(out.glob("n*.json"))) == 120


OPENJD_TEMPLATE = Path(__file__).resolve().parents[1] / "deploy/openjd/emospeaker-batch.yaml"


def _openjd(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    openjd = Path(sys.executable).with_name("openjd")  # the dev extra's openjd-cli
    return subprocess.run(
        [str(openjd), *args], capture_output=True, text=True, env=cli_env(), cwd=cwd, timeout=300
    )


def test_openjd_template_checks_and_runs_each_shard_as_a_task(speech, tmp_path):
    checked = _openjd("check", str(OPENJD_TEMPLATE), cwd=tmp_path)
    assert checked.returncode == 0 and "passes validation" in checked.stdout, checked.stderr
    manifest = _manifest(tmp_path, [re.sub(r"\bline(\d)", rf"{speech}/line\1", r) for r in GOOD])
    params = [
        "-p", f"Manifest={manifest}", "-p", f"OutDir={tmp_path / 'out'}", "-p", "Shards=2",
        "-p", f"EmoSpeaker={sys.executable} -m emospeaker", "--output", "json",
    ]  # fmt: skip
    ran = _openjd("run", str(OPENJD_TEMPLATE), *params, cwd=tmp_path)
    assert json.loads(ran.stdout[ran.stdout.index("{") :])["status"] == "success", ran.stdout
    for output in OUTPUTS:
        assert load_track(tmp_path / "out" / output).frames > 0
    # a missing audio file fails its shard's task, and only that shard records it
    with manifest.open("a") as f:
        f.write(BAD[0] + "\n")
    failed = _openjd("run", str(OPENJD_TEMPLATE), *params, cwd=tmp_path)
    assert json.loads(failed.stdout[failed.stdout.index("{") :])["status"] == "error"
    assert [p.name for p in (tmp_path / "out").glob("failures*")] == ["failures.shard-2-of-2.jsonl"]


def _dies_on_rows_of_three(row):
    """A line worker whose process dies outright on rows 3, 6, 9 (picklable: module level)."""
    import os

    from emospeaker.batch.lines import Outcome

    if row.row % 3 == 0:
        os._exit(3)
    time.sleep(0.05)
    return Outcome(row.row, row.output, "done")


def test_a_dying_worker_process_never_stops_the_batch():
    """Lines keep flowing after worker processes die, each row gets exactly one outcome, and
    the dying rows are among the failures (old pools' late failures replace no new pool)."""
    from emospeaker.batch.manifest import BadRow
    from emospeaker.batch.runner import _outcomes

    rows = [BadRow(n, "", output=f"line{n}") for n in range(1, 13)]
    outcomes = list(_outcomes(rows, _dies_on_rows_of_three, jobs=3, processes=True))
    assert sorted(o.row for o in outcomes) == list(range(1, 13))
    failed = {o.row for o in outcomes if o.status == "failed"}
    assert {3, 6, 9, 12} <= failed
    assert any(o.status == "done" for o in outcomes)
    assert all("worker process failed" in o.error for o in outcomes if o.status == "failed")
