#!/usr/bin/env bash
# A second virtual environment, .venv-blender42, with Blender 4.2 LTS as the bpy wheel, so the
# add-on's Blender tests also run on the oldest Blender the extension supports
# (blender_version_min in addon/blender_manifest.toml). tests/test_addon_blender42.py runs the
# Blender scenarios with it when it exists; `scripts/setup.sh --dev` calls this script.
#
# Only what the Blender side needs: bpy 4.2 (about 350 MB to download, 800 MB installed),
# numpy 1.x (bpy 4.2 is built against it), grpcio and protobuf for the add-on's client.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
venv=.venv-blender42
[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q -U pip
"$venv/bin/pip" install -q "bpy==4.2.23" "numpy==1.26.4" "grpcio==1.85.1" "protobuf==4.25.9"
"$venv/bin/python" -c "import bpy; print('Blender', bpy.app.version_string, 'in $venv')"
