"""`emospeaker serve` as a real subprocess: the ready line, `animate --server`, drain, refusal."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import ROOT, SAMPLE_AUDIO, cli_env
from emospeaker.formats import load_track
from emospeaker.speech import pool
from emospeaker.wire import client as wc
from emospeaker.wire import emospeaker_pb2 as pb
from grpc_support import speech_pcm

READY = re.compile(r"emospeaker serving on (127\.0\.0\.1:(\d+))\n")
# `emospeaker serve` with the test engines registered first (for timing the drain)
WITH_TEST_ENGINES = (
    f"import sys; sys.path.insert(0, {str(ROOT / 'tests')!r}); import grpc_support; "
    "from emospeaker.engines import ENGINES; ENGINES.update(grpc_support.EXTRA_ENGINES); "
    "from emospeaker.render import RENDERERS; RENDERERS.update(grpc_support.EXTRA_RENDERERS); "
    "from emospeaker.cli import main; sys.exit(main())"
)


class Served:
    """A running `emospeaker serve` process and the address from its ready line."""

    def __init__(self, *args: str, test_engines: bool = False, tmp: Path | None = None) -> None:
        """`tmp`: the server's temp folder (TMPDIR)."""
        launcher = ["-c", WITH_TEST_ENGINES] if test_engines else ["-m", "emospeaker"]
        env = cli_env()
        if tmp is not None:
            env["TMPDIR"] = str(tmp)
        self.proc = subprocess.Popen(
            [sys.executable, *launcher, "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        match = READY.fullmatch(line)
        if not match:
            self.proc.kill()
            raise AssertionError(f"no ready line (got {line!r}): {self.proc.stderr.read()}")
        self.address, self.port = match.group(1), int(match.group(2))

    def stop(self, timeout: float = 20) -> tuple[int, str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 20) -> tuple[int, str, str]:
        """Wait for the server to exit on its own (e.g. after a drain)."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def test_serve_ready_line_and_animate_server_gives_the_local_track(run_cli, tmp_path):
    served = Served("--max-concurrent", "2")
    try:
        assert served.port != 0
        args = ["animate", SAMPLE_AUDIO, "--emotion-keys", "0s=neutral:0,2s=happy:0.9,4s=sad:0.5"]
        args += ["--fps", "24000/1001", "--start-frame", "1001", "--seed", "5", "-q"]
        run_cli(*args, "-o", tmp_path / "local.npz")
        run_cli(*args, "-o", tmp_path / "remote.npz", "--server", served.address)
        assert load_track(tmp_path / "remote.npz") == load_track(tmp_path / "local.npz")

        (tmp_path / "noise.wav").write_bytes(b"RIFF but not really a wave file" * 20)
        bad = run_cli("animate", tmp_path / "noise.wav", "--server", served.address, check=False)
        assert bad.returncode == 2 and "cannot decode" in bad.stderr
        assert not (tmp_path / "noise.json").exists()
    finally:
        code, out, err = served.stop()
    assert code == 0
    assert out == ""  # the ready line was the only stdout
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [x for x in lines if x["event"] == "request"]
    ok, failed = requests
    assert ok["method"] == "Animate" and ok["status"] == "OK" and ok["frames"] == 145
    assert ok["engine"] == "default" and ok["audio_seconds"] == pytest.approx(6.04, abs=0.01)
    assert ok["peer"].startswith("ipv4:127.0.0.1:") and ok["ms"] > 0
    assert failed["status"] == "INVALID_ARGUMENT" and "cannot decode" in failed["error"]
    assert [x["event"] for x in lines][-2:] == ["drain", "stop"]


def test_sigterm_lets_running_calls_finish_and_refuses_new_ones():
    served = Served("--grace-seconds", "20", test_engines=True)
    client = wc.Client(served.address, timeout=30)
    audio = wc.audio_pcm(speech_pcm(0.5), 16000)
    stream = client.animate(audio=audio, engine="slow", options={"seconds": 2.0})
    events = iter(stream)
    assert isinstance(next(events), pb.Progress)
    started = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    _wait_until_not_serving(served.address)  # the signal handled, however loaded the machine
    with wc.Client(served.address, timeout=5) as late:
        with pytest.raises(wc.ServerUnavailable):
            late.animate_track(audio)
    assembler = wc.TrackAssembler()
    for event in events:
        assembler.add(event)
    assert assembler.track().frames == 15  # the running call completed
    code, _, err = served.wait()  # a second signal would mean "stop now"
    assert code == 0 and time.monotonic() - started < 10
    assert '"event": "drain", "running": 1' in err
    client.close()


def _wait_until_not_serving(address: str, seconds: float = 20) -> None:
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="")
        deadline = time.monotonic() + seconds
        while health.Check(request, timeout=5).status != health_pb2.HealthCheckResponse.NOT_SERVING:
            assert time.monotonic() < deadline, "the server never started draining"
            time.sleep(0.02)


def test_refuses_a_public_address_without_token_or_tls(run_cli):
    proc = run_cli("serve", "--host", "0.0.0.0", "--port", "0", check=False, timeout=60)
    assert proc.returncode == 2
    assert "--token" in proc.stderr and "--insecure" in proc.stderr
    assert proc.stdout == ""


def test_exit_with_parent_stops_an_orphaned_server(tmp_path):
    """A shell starts the server and exits: the server notices it was orphaned and stops."""
    pid_file, out, err = tmp_path / "pid", tmp_path / "out", tmp_path / "err"
    command = (
        f"{sys.executable} -m emospeaker serve --port 0 --exit-with-parent > {out} 2> {err} & "
        f"echo $! > {pid_file}; sleep 2"
    )
    subprocess.run(["sh", "-c", command], env=cli_env(), timeout=30, check=True)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)
    assert READY.fullmatch(out.read_text()), err.read_text()
    assert '"event": "stop"' in err.read_text()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "gone"


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, grandchildren, ...), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    return {p for p in pids if Path(f"/proc/{p}").exists() and _state(p) not in ("Z", "gone")}


@pytest.mark.skipif(pool.worker_count() == 0, reason="one core: no phone-recogniser workers")
def test_kill_9_during_a_render_leaves_no_process_and_the_next_start_sweeps_its_files(tmp_path):
    served = Served("--max-concurrent", "1", test_engines=True, tmp=tmp_path)
    children: set[int] = set()
    try:
        _kill_during_a_render(served, tmp_path, children)
    finally:
        served.proc.kill()
        for pid in _alive(children):  # what the test found orphaned: do not leave it running
            os.kill(pid, signal.SIGKILL)
    stale = list(tmp_path.glob("emospeaker-serve-*"))
    assert stale  # the killed server's folder, with its half-written render
    again = Served(tmp=tmp_path)
    code, _, err = again.stop()
    assert code == 0 and '"swept_stale_folders": 1' in err
    assert not any(p.exists() for p in stale)


def _kill_during_a_render(served: Served, tmp_path: Path, children: set[int]) -> None:
    """kill -9 the server while its phone-recogniser workers run; they must go with it."""
    client = wc.Client(served.address, timeout=60)
    speech = wc.animate_request(wc.audio_pcm(speech_pcm(12.0), 16000))  # several chunks
    stream = iter(client.render(wc.render_request("flat", animate=speech, size=256)))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        next(stream)
        children |= _descendants(served.proc.pid)
        if children and list(tmp_path.glob("emospeaker-serve-*/emospeaker-render-*")):
            break
    assert children, "the server started no worker processes"
    served.proc.kill()  # SIGKILL: no clean-up runs in the server
    served.proc.wait(10)
    client.close()
    deadline = time.monotonic() + 10
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(children), "orphaned workers: " + ", ".join(
        Path(f"/proc/{p}/cmdline").read_text().replace("\0", " ")[:80] for p in _alive(children)
    )


def test_sigterm_reports_not_serving_while_running_calls_drain():
    served = Served("--grace-seconds", "20", test_engines=True)
    client = wc.Client(served.address, timeout=30)
    audio = wc.audio_pcm(speech_pcm(0.5), 16000)
    stream = client.animate(audio=audio, engine="slow", options={"seconds": 2.0})
    try:
        _sigterm_while_a_call_runs(served, iter(stream))
    finally:
        served.proc.kill()
        client.close()


def _sigterm_while_a_call_runs(served: Served, events: Iterator) -> None:
    assert isinstance(next(events), pb.Progress)
    with grpc.insecure_channel(served.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service="")
        assert health.Check(request, timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        served.proc.send_signal(signal.SIGTERM)
    _wait_until_not_serving(served.address)  # the port stays open, saying NOT_SERVING
    assembler = wc.TrackAssembler()
    for event in events:
        assembler.add(event)
    assert assembler.track().frames == 15  # the running call finished
    code, _, err = served.wait()
    assert code == 0 and '"event": "stop"' in err


def test_token_without_tls_off_loopback_is_refused_unless_insecure(run_cli):
    proc = run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--token", "x", check=False,
                   timeout=60)  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert "clear text" in proc.stderr and "--tls-cert" in proc.stderr
    assert "--insecure" in proc.stderr
