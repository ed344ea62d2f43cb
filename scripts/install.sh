#!/usr/bin/env bash
# Installs whatever is missing: Debian packages (apt, with sudo when not root),
# a .venv at the repo root, and the project with its dev extras. Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc
  portaudio19-dev libportaudio2          # PyAudio, for Pipecat's local audio transport
  pulseaudio pulseaudio-utils libasound2-plugins   # virtual mic and speaker; ALSA's pulse plugin
  libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 libxcb-xinerama0   # Qt on X11 and offscreen
  xvfb                                   # screenshots without a display
)

missing_packages() {
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

install_apt_packages() {
  command -v dpkg-query >/dev/null || { echo "install.sh: not a Debian-like system; install ${APT_PACKAGES[*]} yourself" >&2; return; }
  local missing
  missing=$(missing_packages)
  [ -z "$missing" ] && return
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing Debian packages: $missing"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
}

pick_python() {
  local candidate
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null &&
       "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 14)))' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
  echo "install.sh: needs Python 3.11 to 3.13" >&2; exit 1
}

install_python_project() {
  [ -x .venv/bin/python ] || "$(pick_python)" -m venv .venv
  local stamp
  stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
  [ -f "$stamp" ] && return
  echo "Installing the project into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
}

install_apt_packages
install_python_project
