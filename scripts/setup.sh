#!/usr/bin/env bash
# Set up EmoSpeaker in ./.venv on a Debian/Ubuntu machine with Python 3.11.
#
#   scripts/setup.sh         the core: animate speech on the CPU with the default engine
#   scripts/setup.sh --dev   everything (server, face model, renderers, neural engine) plus the
#                            test tools, the real Blender (bpy 5.0 in .venv, bpy 4.2 LTS in
#                            .venv-blender42) and the speech synthesisers
#
# Safe to run again: it only installs what is missing. Uses sudo for apt when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[[ "${1:-}" == "--dev" ]] && dev=1
python=${PYTHON:-python3.11}

wanted=()
"$python" -c "import ensurepip, venv" 2>/dev/null || wanted+=("python3.11-venv")
if (( dev )); then
    # speech synthesis with exact phone timings (tests, benchmarks, training corpus),
    # Mesa's offscreen OpenGL for pyrender, and openssl for the gRPC TLS test's certificate
    wanted+=(espeak-ng festival festvox-kallpc16k festvox-us-slt-hts sox
             libosmesa6 libegl1 libegl-mesa0 libgl1-mesa-dri openssl)
fi
missing=()
for pkg in "${wanted[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
    sudo=""
    (( EUID == 0 )) || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/pip install -q -U pip
if (( dev )); then
    .venv/bin/pip install -q -c constraints.txt -e ".[all,dev]"
    # pyrender pins PyOpenGL 3.1.0, which lacks OSMesaCreateContextAttribs; 3.1.10 works.
    .venv/bin/pip install -q --no-deps PyOpenGL==3.1.10
else
    .venv/bin/pip install -q -c constraints.txt -e .
fi
if (( dev )); then
    # Blender 4.2 LTS in its own environment, for the add-on tests on the oldest supported
    # Blender (tests/test_addon_blender42.py); a 350 MB download
    ./scripts/setup_blender42.sh
fi
echo "EmoSpeaker is set up in .venv ($(.venv/bin/emospeaker --version))"
