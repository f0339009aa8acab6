#!/usr/bin/env bash
# Mutation check: applies each known-bad change of mutations.txt to a scratch
# copy of the library, one at a time, rebuilds, runs the unit tests (every
# ctest except the `selftest` and `soak` labels; --all runs those too) and
# prints which tests catch it. A test "catches" a mutation when its own
# output shows a failed check (tests/check.h's FAIL and CHECK lines, a ctest
# pass-regex mismatch) and it fails again when run alone; one that dies of
# a signal or a timeout, or fails without a check, is listed apart and does
# not count, as is one that passes alone (a timing check under load). Exit
# status 0 when every mutation is caught by at least one test.
#
#   tests/mutations/run.sh [--all] [--keep] [--only NAME] [SCRATCH_DIR]
#
# SCRATCH_DIR defaults to a new folder under /tmp; the user's build folders
# are never touched. Needs the same tools as scripts/build.sh.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
all=0 keep=0 only="" scratch=""
while [ $# -gt 0 ]; do
  case "$1" in
  --all) all=1 ;;
  --keep) keep=1 ;;
  --only) only=$2; shift ;;
  -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
  *) scratch=$1 ;;
  esac
  shift
done
[ -n "$scratch" ] || scratch=$(mktemp -d /tmp/gpb-mutations.XXXXXX)
src="$scratch/src" build="$scratch/build" logs="$scratch/logs"
mkdir -p "$src" "$logs"
echo "scratch copy: $scratch"
# The working tree as it is (tracked and untracked, not ignored files).
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -xf - -C "$src"

exclude='selftest|soak'
[ $all = 1 ] && exclude='^$'
jobs=${GPB_MUTATION_JOBS:-2}
# What tests/check.h and ctest print for a failed check.
assertion='^FAIL |CHECK failed|CHECK_EQ failed|Required regular expression'


build() {
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPB_BUILD_LLAMA=OFF >"$logs/cmake.log" 2>&1 &&
    cmake --build "$build" -j"$jobs" >"$logs/build-$1.log" 2>&1
}

# Runs the tests; writes the names of those that failed by assertion and by
# crash into $logs/<name>.caught and $logs/<name>.crashed.
run_tests() {
  local name=$1 log="$logs/ctest-$1.log"
  ctest --test-dir "$build" -LE "$exclude" -j"$jobs" --output-on-failure --timeout 300 >"$log" 2>&1
  cp "$build/Testing/Temporary/LastTest.log" "$logs/LastTest-$name.log" # the reruns below replace it
  : >"$logs/$name.caught"
  : >"$logs/$name.crashed"
  : >"$logs/$name.flaky"
  # "N/M Test #K: name ....***Failed" is a non-zero exit; "***Exception" a
  # signal; "***Timeout" a hang.
  # A failed test counts as caught only if its own output (ctest keeps each
  # test's output apart in LastTest.log) has an assertion line.
  grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log" | grep -vE ' Passed |\*\*\*Skipped' | while read -r line; do
    test=$(echo "$line" | sed -E 's/.*Test +#[0-9]+: ([^ ]+) .*/\1/')
    if echo "$line" | grep -qE '\*\*\*(Exception|Timeout)'; then
      echo "$test" >>"$logs/$name.crashed"
      continue
    fi
    awk -v t="$test" '$0 ~ "^[0-9]+/[0-9]+ Testing: " t "$" {on = 1} on {print} on && $0 ~ "^\"" t "\" end time" {on = 0}' \
      "$logs/LastTest-$name.log" >"$logs/$name.$test.log"
    if grep -qE "$assertion" "$logs/$name.$test.log"; then
      # Confirmed alone: a check that fails only under load (a timing
      # check) is listed as flaky, not as a catch.
      if ctest --test-dir "$build" -R "^$test\$" --timeout 300 >"$logs/$name.$test.again.log" 2>&1; then
        echo "$test" >>"$logs/$name.flaky"
      else
        echo "$test" >>"$logs/$name.caught"
      fi
    else
      echo "$test" >>"$logs/$name.crashed"
    fi
  done
}

build baseline || { echo "baseline build failed: $logs/build-baseline.log"; exit 2; }
run_tests baseline
if [ -s "$logs/baseline.caught" ] || [ -s "$logs/baseline.crashed" ]; then
  echo "the unmutated library fails tests: $(cat "$logs/baseline.caught" "$logs/baseline.crashed" | tr '\n' ' ')"
  echo "see $logs/ctest-baseline.log"
  exit 2
fi

status=0
table="$scratch/table.txt"
printf '%-26s | %-8s | %s\n' mutation result "caught by (failed with an assertion); failed without one (crash, abort, hang)" >"$table"
printf '%-26s-+-%-8s-+-%s\n' -------------------------- -------- ---------------------------------------- >>"$table"
grep -vE '^\s*(#|$)' "$repo/tests/mutations/mutations.txt" | while IFS='|' read -r name file expr; do
  name=$(echo "$name" | xargs) file=$(echo "$file" | xargs)
  expr=$(echo "$expr" | sed -E 's/^ +//; s/ +$//')
  [ -n "$only" ] && [ "$only" != "$name" ] && continue
  cp "$src/$file" "$scratch/original"
  sed -E -i "$expr" "$src/$file"
  if cmp -s "$src/$file" "$scratch/original"; then
    printf '%-26s | %-8s | %s\n' "$name" "NO-OP" "the edit does not apply to $file any more" >>"$table"
    echo 1 >"$scratch/failed"
    continue
  fi
  echo "== $name: $file"
  if ! build "$name"; then
    printf '%-26s | %-8s | %s\n' "$name" "NO-BUILD" "see $logs/build-$name.log" >>"$table"
    echo 1 >"$scratch/failed"
  else
    run_tests "$name"
    caught=$(sort "$logs/$name.caught" | tr '\n' ' ')
    crashed=$(sort "$logs/$name.crashed" | tr '\n' ' ')
    flaky=$(sort "$logs/$name.flaky" | tr '\n' ' ')
    result=CAUGHT
    [ -z "$caught" ] && result=MISSED && echo 1 >"$scratch/failed"
    printf '%-26s | %-8s | %s%s\n' "$name" "$result" "${caught:-none}" "${crashed:+; without an assertion: $crashed}${flaky:+; failed once, passed alone: $flaky}" >>"$table"
  fi
  cp "$scratch/original" "$src/$file"
done
echo
cat "$table"
[ -f "$scratch/failed" ] && status=1
if [ $keep = 0 ] && [ $status = 0 ]; then rm -rf "$scratch"; else echo "logs: $logs"; fi
exit $status
