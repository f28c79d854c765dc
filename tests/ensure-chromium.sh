#!/bin/sh
# Installs Debian's headless Chromium for the report rendering test when it is missing (needs root or sudo).
# The test skips with a reason when Chromium cannot be installed, so this script never fails the suite.
if command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
if command -v apt-get >/dev/null 2>&1; then
    ($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium) >/dev/null 2>&1 \
        || echo "ensure-chromium: could not install chromium; the browser rendering test will be skipped" >&2
else
    echo "ensure-chromium: no apt-get; the browser rendering test will be skipped" >&2
fi
exit 0
