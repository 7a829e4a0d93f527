#!/usr/bin/env bash
# setup.sh — installs what `make test`, `make up` and `make loadtest` need and this machine
# lacks; prints nothing when everything is present. `make setup` runs it.
#
# Debian packages are installed with apt-get as root, or through passwordless sudo; otherwise
# it prints one line saying exactly what to install, and fails. What apt cannot give in a
# version new enough (Go, Node.js 20) is named with where to get it.
#
#   PROMETHEUS=1 scripts/setup.sh   # also the Prometheus server and promtool (make setup-prometheus)
#   CHROMIUM_PATH=/path/to/chrome   # a browser for the e2e other than Debian's /usr/bin/chromium
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=() # Debian packages this machine lacks
manual=()   # what apt cannot install here, with where to get it

have() { command -v "$1" >/dev/null 2>&1; }

# Go: the version go.work names; Debian's golang is older, so it comes from go.dev.
go_want=$(awk '$1 == "go" { print $2; exit }' go.work)
if ! have go; then
  manual+=("Go >= $go_want (https://go.dev/dl)")
fi

# Node.js 20 or newer with npm, for the page (Vite needs ^20.19 || >= 22.12).
if ! have node || ! have npm; then
  manual+=("Node.js 20 with npm (https://nodejs.org, or Debian 13's nodejs + npm)")
elif (($(node -p 'process.versions.node.split(".")[0]') < 20)); then
  manual+=("Node.js >= 20 (this one is $(node --version); https://nodejs.org)")
fi

# The browser the e2e drives with playwright-core (web/e2e/order.e2e.mjs reads CHROMIUM_PATH).
if [[ -n ${CHROMIUM_PATH:-} ]]; then
  [[ -x $CHROMIUM_PATH ]] || manual+=("a browser at CHROMIUM_PATH=$CHROMIUM_PATH (not an executable file)")
elif [[ ! -x /usr/bin/chromium ]]; then
  apt_pkgs+=(chromium)
fi

# Real Kafka (BROKER=kafka, `make test`): Java 17 runs it, Maven resolves its jars.
have java || apt_pkgs+=(openjdk-17-jre-headless)
have mvn || apt_pkgs+=(maven)

# PostgreSQL's server binaries: the harness runs initdb and postgres from
# /usr/lib/postgresql/<version>/bin in a temp dir when DB=postgres (no service is used).
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
  apt_pkgs+=(postgresql)
fi

# Prometheus and promtool, only when asked: `make up -prometheus`, promtool checks.
if [[ ${PROMETHEUS:-} == 1 ]] && ! { have prometheus && have promtool; }; then
  apt_pkgs+=(prometheus)
fi

if ((${#manual[@]})); then
  printf 'setup: install %s' "${manual[0]}" >&2
  ((${#manual[@]} > 1)) && printf ', %s' "${manual[@]:1}" >&2
  ((${#apt_pkgs[@]})) && printf ', and: apt-get install %s' "${apt_pkgs[*]}" >&2
  printf '\n' >&2
  exit 1
fi

if ((${#apt_pkgs[@]})); then
  sudo=()
  if ((EUID != 0)); then
    if have sudo && sudo -n true 2>/dev/null; then
      sudo=(sudo)
    else
      echo "setup: this machine lacks ${apt_pkgs[*]}: run \`sudo apt-get install -y --no-install-recommends ${apt_pkgs[*]}\` (or make setup as root)" >&2
      exit 1
    fi
  fi
  echo "setup: installing ${apt_pkgs[*]} (apt-get)"
  log=$(mktemp -t kit-setup.XXXXXX.log)
  if ! "${sudo[@]}" apt-get update -qq >"$log" 2>&1 ||
    ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: apt-get install ${apt_pkgs[*]} failed (log above)" >&2
    exit 1
  fi
  rm -f "$log"
fi

# The page's npm packages, when node_modules is missing or older than the lock file.
if [[ ! -e web/node_modules/.package-lock.json || web/package-lock.json -nt web/node_modules/.package-lock.json ]]; then
  echo "setup: npm ci in web/"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

# The Go modules every package and test of the workspace needs; silent when cached. (Not
# `go mod download`: in a workspace it fetches the whole graph and rewrites go.work.sum.)
go list -deps -test github.com/kafkakit/kit/... >/dev/null
