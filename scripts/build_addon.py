"""Build the installable Blender extension zip of the EmoSpeaker add-on.

The zip holds addon/, the wire package (generated stubs + gRPC client, copied as is), the demo
head (head.glb, made by `emospeaker.face.export_head_gltf`), and grpcio + protobuf (+
typing_extensions, which grpcio imports) wheels for Python 3.11 (Blender 4.2 to 5.0) on every
platform asked for. Blender's own `blender_ext.py build` validates the manifest and writes the
zip.

    python scripts/build_addon.py                                  # all platforms, from PyPI
    python scripts/build_addon.py --platforms current --wheels-from installed   # offline
    python scripts/build_addon.py --wheels-from ~/wheels --split-platforms

--wheels-from: `pypi` (pip download, the default), `installed` (repack the wheels installed in
the running Python: no network; current platform only), or a folder of .whl files.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "addon"
WIRE = ROOT / "backend" / "emospeaker" / "wire"
BUNDLED = ("grpcio", "protobuf", "typing_extensions")
PYTHON = "3.11"  # Blender 4.2 LTS .. 5.0
# Blender platform -> wheel platform tags pip may pick from (universal2 serves both Macs)
PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux-x64": ("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("macosx_11_0_arm64", "macosx_11_0_universal2", "macosx_10_9_universal2"),
    "macos-x64": ("macosx_11_0_x86_64", "macosx_11_0_universal2", "macosx_10_9_universal2"),
}


def pins() -> dict[str, str]:
    """The bundled packages' versions, from constraints.txt (the project's single list)."""
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        key = name.strip().lower().replace("-", "_")
        if sep and key in BUNDLED:
            found[key] = version.strip()
    missing = set(BUNDLED) - set(found)
    if missing:
        raise SystemExit(f"constraints.txt pins no version of {', '.join(sorted(missing))}")
    return found


def current_platform() -> str:
    system = {"linux": "linux", "windows": "windows", "darwin": "macos"}[platform.system().lower()]
    machine = {"x86_64": "x64", "amd64": "x64", "arm64": "arm64", "aarch64": "arm64"}[
        platform.machine().lower()
    ]
    return f"{system}-{machine}"


# ---------------------------------------------------------------------------------------------
# The extension's files


def stage(dest: Path, head: bool = True) -> Path:
    """Copy the add-on and the wire package into `dest` (an importable package folder)."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in ADDON.iterdir():
        if path.is_file() and path.suffix in (".py", ".toml"):
            shutil.copy2(path, dest / path.name)
    wire = dest / "wire"
    wire.mkdir(exist_ok=True)
    for path in WIRE.glob("*.py"):
        shutil.copy2(path, wire / path.name)
    if head:
        write_head(dest / "head.glb")
    return dest


def write_head(path: Path) -> None:
    sys.path.insert(0, str(ROOT / "backend"))
    try:
        from emospeaker.face.gltf import export_head_gltf
    except ImportError as exc:
        raise SystemExit(f"cannot make head.glb ({exc}); build with --no-head") from None
    export_head_gltf(path)


# ---------------------------------------------------------------------------------------------
# Wheels


def download(dest: Path, platforms: list[str], versions: dict[str, str]) -> None:
    for name in platforms:
        tags = [arg for tag in PLATFORMS[name] for arg in ("--platform", tag)]
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
               "--no-deps", "--python-version", PYTHON, "--implementation", "cp", *tags,
               "--dest", str(dest), *(f"{p}=={v}" for p, v in versions.items())]  # fmt: skip
        print(f"downloading wheels for {name}", file=sys.stderr)
        subprocess.run(cmd, check=True)


def from_folder(dest: Path, folder: Path, versions: dict[str, str]) -> None:
    for pkg, version in versions.items():
        found = sorted(folder.glob(f"{pkg}-{version}-*.whl"))
        if not found:
            raise SystemExit(f"{folder}: no {pkg}-{version}-*.whl")
        for wheel in found:
            shutil.copy2(wheel, dest / wheel.name)


def repack_installed(dest: Path, versions: dict[str, str]) -> None:
    """Rebuild each package's wheel from its installed files (RECORD lists them; WHEEL has
    the tags), for offline builds and tests."""
    for pkg, version in versions.items():
        dist = importlib.metadata.distribution(pkg)
        if dist.version != version:
            raise SystemExit(f"installed {pkg} is {dist.version}, constraints.txt pins {version}")
        info = dist.read_text("WHEEL") or ""
        tags = [t.strip() for t in re.findall(r"^Tag:\s*(\S+)", info, flags=re.M)]
        if not tags:
            raise SystemExit(f"installed {pkg} has no wheel tags (not installed from a wheel?)")
        py, abi, plats = zip(*(t.split("-") for t in tags), strict=True)
        tag = "-".join(".".join(sorted(set(part))) for part in (py, abi, plats))
        name = dist.metadata["Name"].replace("-", "_")
        wheel = dest / f"{name}-{version}-{tag}.whl"
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in dist.files or []:
                if {"__pycache__", ".."} & set(file.parts) or file.name in (
                    "INSTALLER",
                    "REQUESTED",
                ):
                    continue
                source = Path(dist.locate_file(file))
                if source.is_file():
                    zf.write(source, file.as_posix())


def wheel_platforms(wheels: list[Path]) -> list[str]:
    """The Blender platforms every bundled package has a wheel for."""
    covered: dict[str, set[str]] = {}
    for wheel in wheels:
        pkg = wheel.name.split("-")[0].lower()
        tags = set(wheel.stem.split("-")[-1].split("."))
        for name, accepted in PLATFORMS.items():
            if "any" in tags or tags & set(accepted):
                covered.setdefault(name, set()).add(pkg)
    return [name for name in PLATFORMS if covered.get(name, set()) >= set(BUNDLED)]


# ---------------------------------------------------------------------------------------------


def blender_ext() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise SystemExit(
            "Blender's blender_ext.py not found: install the bpy wheel (pip install bpy==5.0.1) or "
            "pass --blender-ext <Blender>/<version>/scripts/addons_core/bl_pkg/cli/blender_ext.py"
        )
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise SystemExit("the bpy package has no blender_ext.py; pass --blender-ext")
    return found[-1]


def write_manifest(source: Path, wheels: list[Path], platforms: list[str]) -> None:
    text = (source / "blender_manifest.toml").read_text()
    listed = ", ".join(f'"./wheels/{w.name}"' for w in sorted(wheels))
    extra = f"platforms = [{', '.join(f'{p!r}' for p in platforms)}]\nwheels = [{listed}]\n"
    text = text.replace("\n[permissions]", "\n" + extra.replace("'", '"') + "\n[permissions]", 1)
    (source / "blender_manifest.toml").write_text(text)


def build(args: argparse.Namespace) -> list[Path]:
    versions = pins()
    platforms = sorted(PLATFORMS) if args.platforms == "all" else [
        current_platform() if p == "current" else p for p in args.platforms.split(",")
    ]  # fmt: skip
    unknown = [p for p in platforms if p not in PLATFORMS]
    if unknown:
        raise SystemExit(f"unknown platform {unknown}; use {', '.join(PLATFORMS)} or current")
    output = args.output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = stage(Path(tmp) / "emospeaker", head=not args.no_head)
        wheels_dir = source / "wheels"
        wheels_dir.mkdir()
        if args.wheels_from == "pypi":
            download(wheels_dir, platforms, versions)
        elif args.wheels_from == "installed":
            if platforms != [current_platform()]:
                raise SystemExit("--wheels-from installed builds for --platforms current only")
            repack_installed(wheels_dir, versions)
        else:
            from_folder(wheels_dir, Path(args.wheels_from).expanduser(), versions)
        wheels = sorted(wheels_dir.glob("*.whl"))
        covered = wheel_platforms(wheels)
        missing = [p for p in platforms if p not in covered]
        if missing:
            raise SystemExit(f"no complete set of wheels for {', '.join(missing)}")
        write_manifest(source, wheels, platforms)
        before = set(output.glob("*.zip"))
        cmd = [sys.executable, str(args.blender_ext or blender_ext()), "build",
               "--source-dir", str(source), "--output-dir", str(output)]  # fmt: skip
        if args.split_platforms:
            cmd.append("--split-platforms")
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    built = sorted(set(output.glob("*.zip")) - before) or sorted(output.glob("emospeaker-*.zip"))
    for path in built:
        print(path)
    return built


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "dist", help="folder for the zip")
    parser.add_argument(
        "--platforms",
        default="all",
        help="all, current, or a comma list of " + ", ".join(PLATFORMS),
    )
    parser.add_argument("--wheels-from", default="pypi", help="pypi, installed, or a folder")
    parser.add_argument("--split-platforms", action="store_true", help="one zip per platform")
    parser.add_argument("--no-head", action="store_true", help="leave out the demo head")
    parser.add_argument("--blender-ext", type=Path, help="path of Blender's blender_ext.py")
    build(parser.parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
