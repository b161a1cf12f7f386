#!/usr/bin/env bash
# The browser client's tests: fast checks of assets/web/ (client.test.mjs), then the
# end-to-end tests (e2e.test.mjs, tasks.test.mjs) in which headless Chromium plays the
# page served by a real canopy-server, and cluster.test.mjs against a local cluster
# (bench/cluster/run.sh, which installs nats-server into a virtualenv when missing). Installs what a fresh machine lacks: Debian's chromium (and Node.js),
# playwright-core from package-lock.json. Screenshots go to target/web-e2e/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  echo "installing Debian's chromium"
  apt_install chromium
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing Node.js"
  apt_install nodejs npm
fi

# The test starts target/debug/canopy-server itself (a no-op build after `cargo test`).
(cd "$root" && cargo build -p canopy-server --locked --quiet)

cd "$here"
npm ci --no-audit --no-fund --loglevel=error
node --test --test-reporter=spec client.test.mjs e2e.test.mjs tasks.test.mjs props.test.mjs review.test.mjs rain.test.mjs cluster.test.mjs
