#!/usr/bin/env bash
# stages.sh STAGE... — runs `make STAGE` for each stage in order and ends with one line per
# stage (pass or FAIL, seconds) and the total, whatever failed on the way: a failed stage does
# not stop the later ones (CI wants every report), except setup, without which nothing runs.
# Exits 1 when any stage failed. `make test` runs it.
#
# Lanes joined by + run at the same time, and a lane is stages joined by , run one after
# another: `unit+vet,web-test` runs vet then web-test while unit runs. The first lane's output
# streams as it comes; every other stage's is kept in a file and printed whole, under its own
# header, when the group ends, so no two stages' lines are interleaved. The next group starts
# once every lane of this one has ended.
set -uo pipefail
make=${MAKE:-make}

names=() results=() times=() notes=()
failed=0
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
record() { # record STAGE RC SECONDS NOTE
  local result=pass
  if [[ $2 != 0 ]]; then
    result=FAIL
    failed=$((failed + 1))
  fi
  names+=("$1") results+=("$result") times+=("$3") notes+=("$4")
}

logs=$(mktemp -d -t stages.XXXXXX)
pids=()
# An interrupted run stops the lanes it started in the background too.
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$logs"' EXIT

start=$(now)
ran=0 setup_failed=false
for group in "$@"; do
  ran=$((ran + 1))
  IFS=+ read -ra lanes <<<"$group"
  # The other lanes in the background, each stage into its own file.
  pids=()
  for lane in "${lanes[@]:1}"; do
    (
      IFS=, read -ra stages <<<"$lane"
      for stage in "${stages[@]}"; do
        s0=$(now)
        $make --no-print-directory "$stage" >"$logs/$stage.log" 2>&1
        echo "$? $(since "$s0")" >"$logs/$stage.result"
      done
    ) &
    pids+=($!)
  done
  beside=${lanes[*]:1}
  beside=${beside//,/ }
  IFS=, read -ra stages <<<"${lanes[0]}"
  for stage in "${stages[@]}"; do
    t0=$(now)
    if [[ -n $beside ]]; then
      printf '\n==> make %s (beside it: %s)\n' "$stage" "$beside"
    else
      printf '\n==> make %s\n' "$stage"
    fi
    $make --no-print-directory "$stage"
    rc=$?
    record "$stage" "$rc" "$(since "$t0")" "${beside:+beside $beside}"
    if [[ $stage == setup ]] && ((rc != 0)); then
      setup_failed=true
      break 2
    fi
  done
  wait "${pids[@]}"
  pids=()
  for lane in "${lanes[@]:1}"; do
    IFS=, read -ra stages <<<"$lane"
    for stage in "${stages[@]}"; do
      printf '\n==> make %s (ran beside %s; its output, kept until it ended)\n' "$stage" "${lanes[0]//,/ }"
      cat "$logs/$stage.log" 2>/dev/null
      rc=1 secs=?
      if [[ -f $logs/$stage.result ]]; then
        read -r rc secs <"$logs/$stage.result"
      fi
      record "$stage" "$rc" "$secs" "beside ${lanes[0]//,/ }"
    done
  done
done

printf '\n==> summary\n'
for i in "${!names[@]}"; do
  printf '  %-20s %-4s %7s s  %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}" "${notes[$i]}"
done
if $setup_failed; then
  for group in "${@:ran+1}"; do
    printf '  %-20s not run (setup failed)\n' "$group"
  done
fi
printf '  %-20s %-4s %7s s\n' total "" "$(since "$start")"
echo "stages: $((${#names[@]} - failed)) passed, $failed failed"
((failed == 0))
