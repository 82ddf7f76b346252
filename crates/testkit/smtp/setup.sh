#!/usr/bin/env bash
# Installs what the SMTP tests need: a Python virtualenv in ./.venv with the
# pinned aiosmtpd (requirements.txt), and the openssl command line tool that
# makes their certificates. Safe to run again, and from several test
# processes at once: it does only what is missing, under a lock.
set -euo pipefail
cd "$(dirname "$0")"

ready=.venv/.ready
up_to_date() { [ -f "$ready" ] && [ ! requirements.txt -nt "$ready" ] && command -v openssl >/dev/null; }
up_to_date && exit 0

exec 9>.setup.lock
flock 9
up_to_date && exit 0

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show "$@" >/dev/null 2>&1; then
    apt-get update
  fi
  apt-get install -y "$@"
}

if ! command -v openssl >/dev/null; then
  apt_install openssl
fi

if [ ! -x .venv/bin/python ]; then
  command -v python3 >/dev/null || apt_install python3
  # Debian's own Python keeps venv in a package of its own.
  if ! python3 -m venv .venv; then
    rm -rf .venv
    apt_install python3-venv
    python3 -m venv .venv
  fi
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -c 'import aiosmtpd.smtp'
touch "$ready"
