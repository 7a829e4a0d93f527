#!/usr/bin/env bash
# with-stack.sh CMD... — runs CMD against a fresh `kit up` (embedded broker, services on
# 8081-8084, the built page on 5173) and stops the stack afterwards, whatever CMD returns.
# The stack's output goes to $KIT_LOG (default: a temp file), printed if CMD fails.
# KIT_UP_ARGS adds flags to kit up, for the page against another shape of the stack:
#   KIT_UP_ARGS='-broker kafka-cluster -scale 2 -db postgres' web/e2e/with-stack.sh ...
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
log=${KIT_LOG:-$(mktemp -t kit-e2e.XXXXXX.log)}
bin=$(mktemp -d -t kit-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/kit" ./harness/cmd/kit)

# shellcheck disable=SC2086 # KIT_UP_ARGS is a list of flags
"$bin/kit" up -web "$root/web/dist" ${KIT_UP_ARGS:-} >"$log" 2>&1 &
kit=$!
stop() {
  kill -INT "$kit" 2>/dev/null || true
  wait "$kit" 2>/dev/null || true
  rm -rf "$bin"
}
trap stop EXIT

deadline=$((SECONDS + 180))
until grep -q "Kit is up" "$log"; do
  if ! kill -0 "$kit" 2>/dev/null; then
    echo "with-stack: kit up exited before the stack was ready:" >&2
    cat "$log" >&2
    exit 1
  fi
  if ((SECONDS > deadline)); then
    echo "with-stack: the stack was not ready within 180 s:" >&2
    tail -n 100 "$log" >&2
    exit 1
  fi
  sleep 0.2
done

if ! "$@"; then
  echo "with-stack: '$*' failed; the stack's log follows" >&2
  tail -n 200 "$log" >&2
  exit 1
fi
