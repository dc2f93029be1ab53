"""The generated stubs match protos/, and the wire package stands alone (as the add-on
bundles it)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys

import pytest

from conftest import BACKEND, ROOT

GEN = ROOT / "scripts" / "gen_protos.py"


def test_stubs_are_fresh():
    proc = subprocess.run([sys.executable, str(GEN), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_check_fails_when_stubs_are_stale(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("gen_protos", GEN)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    stale = tmp_path / "wire"
    shutil.copytree(gen.OUT, stale)
    pb2 = stale / "emospeaker_pb2.py"
    pb2.write_text(pb2.read_text().replace("emospeaker.v1", "emospeaker.v0", 1))
    monkeypatch.setattr(gen, "OUT", stale)
    monkeypatch.setattr(sys, "argv", ["gen_protos.py", "--check"])
    assert gen.main() == 1


def test_wire_package_works_bundled_under_another_name(tmp_path):
    """Copy `wire` alone (no emospeaker package around it) and use the client from it."""
    shutil.copytree(BACKEND / "emospeaker" / "wire", tmp_path / "bundled_wire")
    code = (
        "import sys\n"
        "sys.path.insert(0, '.')\n"  # -I: only the copy, not backend/ nor PYTHONPATH
        "from bundled_wire import client\n"
        "request = client.animate_request(b'RIFF', fps=23.976, emotion={'happy': 0.8})\n"
        "assert (request.fps.num, request.fps.den) == (24000, 1001)\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numpy', 'torch', 'librosa', 'av', 'emospeaker', 'scipy'})\n"
        "print(heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("fps", [24, "25", "30000/1001", (24000, 1001), 29.97, 59.94, 12.5])
def test_client_fps_is_the_same_rational_as_the_backend(fps):
    from fractions import Fraction

    from emospeaker.track import parse_fps
    from emospeaker.wire.client import rational

    wire = rational(fps)
    assert Fraction(wire.num, wire.den) == parse_fps(fps)


def test_public_client_module_needs_only_grpc_and_protobuf():
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(BACKEND)!r})\n"
        "from emospeaker.client import Client, animate_request\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numpy', 'torch', 'librosa', 'av', 'scipy'})\n"
        "print(heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
