#!/bin/sh
# Installs Debian's headless Chromium for the report rendering tests when it is missing (needs root or sudo).
# Outside CI a missing Chromium only warns (exit 0) and those tests skip with the same hint. With CI=true it is an
# error: this script exits 1 with one line on stderr, and the rendering tests fail instead of skipping.
have_chromium() {
    for name in chromium chromium-browser google-chrome google-chrome-stable; do  # as tests/reports/chromium.py
        command -v "$name" >/dev/null 2>&1 && return 0
    done
    return 1
}
give_up() {
    if [ "${CI:-}" = "true" ]; then
        echo "ensure-chromium: error: $1 (CI=true: the browser rendering tests need it)" >&2
        exit 1
    fi
    echo "ensure-chromium: $1; the browser rendering tests will be skipped" >&2
    exit 0
}
have_chromium && exit 0
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || give_up "chromium not found, and neither root nor sudo to install it"
    SUDO="sudo -n"
fi
command -v apt-get >/dev/null 2>&1 || give_up "chromium not found, and no apt-get to install it"
($SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || give_up "could not install chromium (apt-get update && apt-get install -y chromium failed)"
have_chromium || give_up "chromium installed by apt-get but not found on PATH"
exit 0
