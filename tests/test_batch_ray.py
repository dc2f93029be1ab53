"""`emospeaker batch --ray ADDRESS` on a real local Ray cluster: a head and a second node."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import soundfile as sf

from conftest import cli_env

RAY = Path(sys.executable).with_name("ray")  # the `emospeaker[ray]` extra's CLI
LINES = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(temp: Path) -> dict[str, str]:
    """This checkout on the path, Ray's files in `temp`, and no token authentication (a
    token file left in ~/.ray by another cluster must not lock this one's driver out)."""
    ray = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_TMPDIR": str(temp), "RAY_AUTH_MODE": "disabled"}
    return {**cli_env(), **ray}


def _start(*args: str, temp: Path) -> subprocess.Popen:
    """`ray start ... --block` in its own process group, so the test stops exactly it."""
    return subprocess.Popen(
        [str(RAY), "start", "--block", "--num-cpus", "1", "--disable-usage-stats", *args],
        env=_env(temp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            time.sleep(0.5)  # children of the group exit after the leader
        except subprocess.TimeoutExpired:
            continue


def _nodes(address: str, temp: Path) -> int:
    status = subprocess.run(
        [str(RAY), "status", "--address", address],
        env=_env(temp), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    active = status.stdout.split("Active:", 1)[-1].split("Pending:", 1)[0]
    return sum(line.strip().startswith("1 node_") for line in active.splitlines())


@pytest.fixture(scope="module")
def cluster():
    """A head node and a worker node on 127.0.0.1, one CPU each; both stopped at the end."""
    temp = Path(tempfile.mkdtemp(prefix="esray", dir="/tmp"))  # short: Ray's socket paths
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _start(
        "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
        "--include-dashboard", "false", "--temp-dir", str(temp), temp=temp,
    )  # fmt: skip
    procs = [head]
    try:
        deadline = time.monotonic() + 120
        while _nodes(address, temp) < 1 and time.monotonic() < deadline:
            time.sleep(1)
        procs.append(_start("--address", address, "--node-ip-address", "127.0.0.1", temp=temp))
        while _nodes(address, temp) < 2 and time.monotonic() < deadline:
            time.sleep(1)
        assert _nodes(address, temp) == 2, "the Ray cluster did not come up"
        yield address, temp
    finally:
        for proc in reversed(procs):
            _stop(proc)
        shutil.rmtree(temp, ignore_errors=True)


def test_batch_on_two_ray_nodes_matches_the_local_batch(cluster, tmp_path):
    from emospeaker.speech import synthesize

    address, temp = cluster
    for i, text in enumerate(("Follow me, quickly.", "I never said that!")):
        sf.write(tmp_path / f"r{i}.wav", synthesize(text, "en-us").audio.samples, 16000)
    rows = [f"r{n % 2}.wav,surprised:{n / LINES:.2f},take{n:02d}" for n in range(LINES)]
    rows.append("gone.wav,,gone")
    (tmp_path / "lines.csv").write_text("audio,emotion,output\n" + "\n".join(rows) + "\n")

    def batch(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "emospeaker", "batch", "lines.csv", *args],
            cwd=tmp_path, env=_env(temp), capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    on_ray = batch("-o", "ray", "--ray", address)
    assert on_ray.returncode == 1, on_ray.stderr  # the missing file
    assert "2 Ray actors on 2 node(s)" in on_ray.stderr
    assert f"{LINES} done, 0 already current, 1 failed" in on_ray.stderr
    failures = [json.loads(x) for x in (tmp_path / "ray/failures.jsonl").read_text().splitlines()]
    assert [(f["row"], f["field"]) for f in failures] == [(LINES + 1, "audio")]
    local = batch("-o", "local", "-q")
    assert local.returncode == 1
    for n in range(LINES):
        name = f"take{n:02d}.json"
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    again = batch("-o", "ray", "--ray", address)
    assert f"0 done, {LINES} already current, 1 failed" in again.stderr
    # more actors than the cluster's CPUs would wait for ever: refused, naming the field
    crowded = batch("-o", "ray", "--ray", address, "--jobs", "3")
    assert crowded.returncode == 2 and "--jobs 3: the Ray cluster has 2 CPUs" in crowded.stderr
