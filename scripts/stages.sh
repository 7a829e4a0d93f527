#!/usr/bin/env bash
# stages.sh STAGE... — runs `make STAGE` for each stage in order and ends with one line per
# stage (pass or FAIL, seconds) and the total, whatever failed on the way: a failed stage does
# not stop the later ones (CI wants every report), except setup, without which nothing runs.
# Exits 1 when any stage failed. `make test` runs it.
set -uo pipefail
make=${MAKE:-make}

names=() results=() times=()
failed=0
now() { echo "${EPOCHREALTIME/,/.}"; }
start=$(now)
for stage in "$@"; do
  t0=$(now)
  printf '\n==> make %s\n' "$stage"
  if $make --no-print-directory "$stage"; then
    result=pass
  else
    result=FAIL
    failed=$((failed + 1))
  fi
  names+=("$stage") results+=("$result") times+=("$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')")
  if [[ $stage == setup && $result == FAIL ]]; then
    break
  fi
done

printf '\n==> summary\n'
for i in "${!names[@]}"; do
  printf '  %-20s %-4s %7s s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
for stage in "${@:${#names[@]}+1}"; do
  printf '  %-20s not run (setup failed)\n' "$stage"
done
printf '  %-20s %-4s %7s s\n' total "" "$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"
echo "stages: $((${#names[@]} - failed)) passed, $failed failed"
((failed == 0))
