#!/bin/sh
# The system packages the course needs: bubblewrap, the sandbox student code runs in
# (docs/guarantees.md), and chromium, the browser the real-browser test drives through
# Playwright (tests/student/test_student_install.py; Playwright's own browsers are never downloaded).
# Installs what is missing with apt-get; does nothing when both are there.
set -e
missing=""
command -v bwrap >/dev/null 2>&1 || missing="$missing bubblewrap"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $missing >/dev/null
