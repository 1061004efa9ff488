#!/usr/bin/env bash
# Installs the browser the board's tests drive (tests/browser.py): Debian's chromium, through
# apt, since Playwright cannot download a browser build of its own here. Playwright for Python
# (the dev group, `uv sync`) brings its driver and launches /usr/bin/chromium. Skipped when
# chromium is already on PATH, so a second run does nothing.
set -euo pipefail

say() { printf '[install-browser] %s\n' "$*"; }

if command -v chromium >/dev/null; then
  say "$(chromium --version 2>/dev/null || echo chromium) already installed"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { say "chromium is missing: run as root, or apt-get install chromium"; exit 1; }
command -v apt-get >/dev/null || { say "chromium is missing and this is not Debian: install chromium"; exit 1; }
say "installing Debian's chromium"
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
say "installed $(chromium --version)"
