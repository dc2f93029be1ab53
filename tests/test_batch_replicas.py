"""`emospeaker batch --server a,b`: two real servers on loopback, one stopped mid-batch."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import cli_env
from emospeaker.wire.client import channel_target, service_config
from test_grpc_serve_cli import Served

LINES = 24


def test_channel_target_lists_every_replica_and_the_policy_is_grpcs_own():
    assert channel_target("127.0.0.1:5001") == "127.0.0.1:5001"  # DNS names stay names
    assert channel_target("127.0.0.1:5001, localhost:5002") in (
        "ipv4:127.0.0.1:5001,127.0.0.1:5002",
        "ipv4:127.0.0.1:5001,127.0.0.1:5002,[::1]:5002",
    )
    assert channel_target("[::1]:7,[::1]:8") == "ipv6:[::1]:7,[::1]:8"
    config = json.loads(service_config(5))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    policy = config["methodConfig"][0]["retryPolicy"]
    assert sorted(policy["retryableStatusCodes"]) == [
        "CANCELLED",
        "RESOURCE_EXHAUSTED",
        "UNAVAILABLE",
    ]
    assert "methodConfig" not in json.loads(service_config(1))


def _speech(folder: Path) -> list[str]:
    from emospeaker.speech import synthesize

    rows = []
    for i, text in enumerate(("Stay close to me.", "The storm is coming, run!", "Not today.")):
        sf.write(folder / f"s{i}.wav", synthesize(text, "en-us").audio.samples, 16000)
    for n in range(LINES):
        rows.append(f"s{n % 3}.wav,happy:{(n % 7) / 7:.3f},line{n:02d}")
    (folder / "lines.csv").write_text("audio,emotion,output\n" + "\n".join(rows) + "\n")
    return rows


def _served_calls(stderr: str) -> int:
    return sum(
        '"method": "Animate"' in line and '"status": "OK"' in line for line in stderr.splitlines()
    )


def test_two_replicas_one_stopped_mid_batch_lose_nothing(tmp_path):
    _speech(tmp_path)
    first, second = Served("--grace-seconds", "30"), Served("--grace-seconds", "30")
    out = tmp_path / "out"
    batch = subprocess.Popen(
        [sys.executable, "-m", "emospeaker", "batch", "lines.csv", "-o", str(out),
         "--server", f"{first.address},{second.address}", "--jobs", "2", "--timeout", "120"],
        cwd=tmp_path, env=cli_env(), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(out.glob("*.json"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.proc.send_signal(signal.SIGTERM)  # how an orchestrator stops a replica: it drains
    code, _, first_log = first.wait(60)
    _, stderr = batch.communicate(timeout=300)
    _, _, second_log = second.stop()
    assert code == 0
    assert batch.returncode == 0, stderr
    assert f"{LINES} done, 0 already current, 0 failed" in stderr
    assert not (out / "failures.jsonl").exists()
    assert sorted(p.stem for p in out.glob("*.json")) == [f"line{n:02d}" for n in range(LINES)]
    served = _served_calls(first_log), _served_calls(second_log)
    assert served[0] >= 1 and served[1] >= LINES // 2, served  # both took calls
    assert sum(served) >= LINES
    # the same manifest run locally writes the same bytes as the replicas did
    local = subprocess.run(
        [sys.executable, "-m", "emospeaker", "batch", "lines.csv", "-o", "local", "-q"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    for n in (0, LINES - 1):
        assert (out / f"line{n:02d}.json").read_bytes() == (
            tmp_path / "local" / f"line{n:02d}.json"
        ).read_bytes()


def test_an_over_limit_request_is_not_retried(tmp_path):
    """A limit refused before any reply carries retry pushback -1: no replica can take it,
    so the retry policy (which does retry a busy refusal) gives up at once."""
    from emospeaker.server.limits import MAX_TRANSCRIPT_CHARS
    from emospeaker.wire import client as wc
    from grpc_support import speech_pcm

    served = Served()
    with wc.Client(served.address, retry=True, timeout=30) as client:
        audio = wc.audio_pcm(speech_pcm(0.5), 16000)
        with pytest.raises(wc.LimitExceeded, match="transcript has"):
            client.animate_track(audio, transcript="a" * (MAX_TRANSCRIPT_CHARS + 1))
    _, _, log = served.stop()
    calls = [line for line in log.splitlines() if '"method": "Animate"' in line]
    assert len(calls) == 1, calls


def test_a_replica_killed_mid_batch_loses_no_line_silently_and_a_rerun_finishes(tmp_path):
    """SIGKILL (no drain): calls already answering on that replica fail (gRPC retries only
    calls that have had no reply), land in failures.jsonl, and the same command redoes
    exactly those while the dead address is still listed."""
    _speech(tmp_path)
    first, second = Served(), Served()
    servers = f"{first.address},{second.address}"
    command = [sys.executable, "-m", "emospeaker", "batch", "lines.csv", "-o", "out",
               "--server", servers, "--jobs", "2", "--timeout", "120"]  # fmt: skip
    batch = subprocess.Popen(
        command, cwd=tmp_path, env=cli_env(), stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while len(list((tmp_path / "out").glob("*.json"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.proc.kill()
    first.wait()
    _, stderr = batch.communicate(timeout=300)
    written = {p.stem for p in (tmp_path / "out").glob("*.json")}
    failures = tmp_path / "out" / "failures.jsonl"
    failed = [json.loads(x) for x in failures.read_text().splitlines()] if failures.exists() else []
    assert batch.returncode == (1 if failed else 0), stderr
    assert written | {Path(f["output"]).stem for f in failed} == {
        f"line{n:02d}" for n in range(LINES)
    }
    assert all("UNAVAILABLE" in f["error"] or "CANCELLED" in f["error"] for f in failed), failed
    rerun = subprocess.run(command, cwd=tmp_path, env=cli_env(), capture_output=True, text=True)
    second.stop()
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(failed)} done, {LINES - len(failed)} already current, 0 failed" in rerun.stderr
