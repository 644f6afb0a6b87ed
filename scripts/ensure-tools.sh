#!/usr/bin/env bash
# Installs what `make test` needs and the machine lacks: a JDK (DynamoDB Local), Chromium (the
# reset page's browser check), Node.js and
# npm (SDK suite), Python venv support, then the SAM CLI and aiosmtpd (a real SMTP server for
# the reset tests) into .tools/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

missing=()
command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing with apt: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

venv="$root/.tools/venv"
if [ ! -x "$venv/bin/sam" ] || ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  echo "installing AWS SAM CLI and aiosmtpd into .tools/venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/scripts/requirements-tools.txt"
fi

# schemathesis in its own venv: its dependencies need not agree with the SAM CLI's.
fuzz_venv="$root/.tools/schemathesis"
if [ ! -x "$fuzz_venv/bin/schemathesis" ]; then
  echo "installing schemathesis into .tools/schemathesis"
  python3 -m venv "$fuzz_venv"
  "$fuzz_venv/bin/pip" install -q --disable-pip-version-check -r "$root/scripts/requirements-schemathesis.txt"
fi

if [ ! -d "$root/tests/sdk/node_modules/connectycube" ] || [ ! -d "$root/tests/sdk/node_modules/playwright-core" ]; then
  (cd "$root/tests/sdk" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
