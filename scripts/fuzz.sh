#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ one after another (one fuzzer process at a time, never
# -jobs/-workers) and reports, per target, the executions, time, exec/s, corpus size and result.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    # default: 60 s, every target
#   scripts/fuzz.sh --runs N [TARGET...]                # N executions each (libFuzzer -runs=N)
#   scripts/fuzz.sh --cmin [TARGET...]                  # minimise the working corpus into fuzz/corpus/
#   scripts/fuzz.sh --list                              # the target names
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Targets are built once
# with `cargo +nightly fuzz build -O -a` (release, debug assertions and overflow checks on).
# AddressSanitizer is off by default (`-s none`, built into fuzz/target-nosan/): the emulator
# has no `unsafe` code, and the sanitizer cut the executions per second sevenfold (anthropic:
# 3.4k → 23k), which put a 10-million-execution campaign out of reach on two cores. Panics,
# overflows (debug assertions are on), hangs and runaway memory are caught without it.
# FUZZ_SANITIZER=address builds and runs with it (into fuzz/target/), for the unsafe code of
# dependencies (unsafe-libyaml under the scenario, cassette and import targets). Each run reads the committed seeds (fuzz/corpus/<t>, fuzz/regressions/<t>)
# and writes what it discovers to the uncommitted working corpus fuzz/corpus-work/<t>;
# `--cmin` merges that back into fuzz/corpus/<t> with `cargo fuzz cmin`.
#
# Limits: -rss_limit_mb=2048 -timeout=2 and a per-target -max_len (64 KiB for JSON and YAML
# documents). A crash, timeout or out-of-memory stops that target; its input is written under
# fuzz/artifacts/<t>/ and the script exits non-zero after the remaining targets, naming the
# file. Minimise it (`cargo +nightly fuzz tmin -O -a <t> <file>`), keep it as
# fuzz/regressions/<t>/<short-name> (the stable test emulator/tests/fuzz_corpus.rs replays it
# forever), and fix the emulator. A timeout whose input runs in under a second when replayed
# alone was a stall of this machine (the fuzzer runs niced next to other work): that input is
# set aside under fuzz/artifacts/<t>/spurious/ and the run resumes.
#
# Environment: FUZZ_NICE (default 10) is the niceness of the fuzzer; FUZZ_NO_BUILD=1 skips the
# build; FUZZ_ARGS adds libFuzzer flags; ASAN_OPTIONS overrides the sanitizer options below.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FUZZ=$ROOT/fuzz
TRIPLE=$(rustc +nightly -vV | sed -n 's/^host: //p')
# The sanitizer target $1 is built with (see above).
sanitizer() {
  case "${FUZZ_SANITIZER:-none}" in
    address) echo address ;;
    *) echo none ;;
  esac
}
bin_dir() {
  if [ "$(sanitizer "$1")" = address ]; then echo "$FUZZ/target/$TRIPLE/release"; else echo "$FUZZ/target-nosan/$TRIPLE/release"; fi
}
NICE=${FUZZ_NICE:-10}
# AddressSanitizer without its costliest extras (fake stacks for use-after-return, a stack
# trace per allocation, a 256 MB quarantine): ~1.5x the executions and a fifth of the memory.
# Re-run a crashing input with ASAN_OPTIONS= for full reports.
export ASAN_OPTIONS=${ASAN_OPTIONS-detect_stack_use_after_return=0:malloc_context_size=0:quarantine_size_mb=16}

# The [[bin]] names of fuzz/Cargo.toml, in file order.
all_targets() { awk '/^\[\[bin\]\]/ { bin = 1; next } /^\[/ { bin = 0 } bin && /^name = / { gsub(/"/, "", $3); print $3 }' "$FUZZ/Cargo.toml"; }

max_len() {
  case "$1" in
    router) echo 4096 ;;
    sigv4 | credentials) echo 16384 ;;
    *) echo 65536 ;;
  esac
}

mode=time seconds=60 runs=0
case "${1:-}" in
  --list) all_targets; exit 0 ;;
  --runs) mode=runs runs=${2:?--runs needs a number}; shift 2 ;;
  --cmin) mode=cmin; shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  '' | *[!0-9]*) ;;
  *) seconds=$1; shift ;;
esac
targets=("$@")
[ ${#targets[@]} -eq 0 ] && mapfile -t targets < <(all_targets)
for t in "${targets[@]}"; do
  all_targets | grep -qx "$t" || { echo "unknown target: $t (scripts/fuzz.sh --list)" >&2; exit 2; }
done

# Builds targets $@ (cargo-fuzz names), each with its sanitizer.
build() {
  [ "${FUZZ_NO_BUILD:-0}" = 1 ] && return
  local t address=() none=()
  for t in "$@"; do
    if [ "$(sanitizer "$t")" = address ]; then address+=("$t"); else none+=("$t"); fi
  done
  for t in "${address[@]}"; do
    (cd "$FUZZ" && nice -n "$NICE" cargo +nightly fuzz build -O -a "$t")
  done
  for t in "${none[@]}"; do
    (cd "$FUZZ" && nice -n "$NICE" cargo +nightly fuzz build -O -a -s none --target-dir "$FUZZ/target-nosan" "$t")
  done
}

if [ "$mode" = cmin ]; then
  build "${targets[@]}"
  mkdir -p "$FUZZ/artifacts"
  for t in "${targets[@]}"; do
    mkdir -p "$FUZZ/corpus/$t"
    committed=$(find "$FUZZ/corpus/$t" -type f | wc -l)
    working=0
    if [ -d "$FUZZ/corpus-work/$t" ]; then
      working=$(find "$FUZZ/corpus-work/$t" -type f | wc -l)
      find "$FUZZ/corpus-work/$t" -type f -exec cp -n {} "$FUZZ/corpus/$t/" \;
    fi
    flags=(-O -a)
    [ "$(sanitizer "$t")" = none ] && flags+=(-s none --target-dir "$FUZZ/target-nosan")
    (cd "$FUZZ" && nice -n "$NICE" cargo +nightly fuzz cmin "${flags[@]}" "$t" "corpus/$t" -- \
      -rss_limit_mb=2048 -timeout=2 -max_len="$(max_len "$t")") >"$FUZZ/artifacts/cmin-$t.log" 2>&1 ||
      { echo "$t: cmin failed, see fuzz/artifacts/cmin-$t.log" >&2; exit 1; }
    printf '%-13s %5d committed + %6d working inputs -> %4d files, %5d KiB in fuzz/corpus/%s\n' "$t" \
      "$committed" "$working" "$(find "$FUZZ/corpus/$t" -type f | wc -l)" "$(du -sk "$FUZZ/corpus/$t" | cut -f1)" "$t"
  done
  exit 0
fi

# Milliseconds one run of target $1 takes on input $2 (the fastest of three), not niced: a
# replay starved by the other work on the machine once took 1,087 ms for an input that runs
# in 80 ms.
replay_ms() {
  local best=999999 i t0 t1
  for i in 1 2 3; do
    t0=$(date +%s%N)
    "$(bin_dir "$1")/$1" -runs=1 -rss_limit_mb=2048 "$2" >/dev/null 2>&1 || true
    t1=$(date +%s%N)
    best=$(( (t1 - t0) / 1000000 < best ? (t1 - t0) / 1000000 : best ))
  done
  echo "$best"
}

build "${targets[@]}"
failed=()
summary=()
for t in "${targets[@]}"; do
  work=$FUZZ/corpus-work/$t
  artifacts=$FUZZ/artifacts/$t
  mkdir -p "$work" "$artifacts"
  seeds=("$FUZZ/corpus/$t")
  [ -d "$FUZZ/regressions/$t" ] && seeds+=("$FUZZ/regressions/$t")
  dict=()
  [ -f "$FUZZ/dicts/$t.dict" ] && dict=(-dict="$FUZZ/dicts/$t.dict")
  echo "==> $t ($([ "$mode" = runs ] && echo "-runs=$runs" || echo "-max_total_time=$seconds"), -max_len=$(max_len "$t"))"
  start=$(date +%s)
  total=0 part=0 result= crash= spurious=0 rates=() rss=
  # A run that stops on a timeout is checked: an input that runs in under a second on its own
  # was a stall of this (niced, shared) machine, not of the target; it is set aside under
  # fuzz/artifacts/<t>/spurious/ and the campaign resumes for the executions (or time) left.
  while :; do
    part=$((part + 1))
    log=$artifacts/fuzz-$part.log
    if [ "$mode" = runs ]; then
      limit=(-runs=$((runs - total)))
    else
      limit=(-max_total_time=$((seconds - ($(date +%s) - start))))
    fi
    # (-runs=0 and -max_total_time=0 would mean "no limit" to libFuzzer.)
    if [ "${limit[0]#*=}" -le 0 ]; then
      result=ok
      break
    fi
    set +e
    # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
    nice -n "$NICE" "$(bin_dir "$t")/$t" "${limit[@]}" "${dict[@]}" -rss_limit_mb=2048 -timeout=2 \
      -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$artifacts/" \
      ${FUZZ_ARGS:-} "$work" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # A run killed by a timeout prints no final stats: its last status line counts instead.
    [ -z "$execs" ] && execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
    total=$((total + ${execs:-0}))
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    [ -n "$rate" ] && rates+=("$rate")
    r=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    [ -n "$r" ] && rss=$r
    if [ $rc -eq 0 ]; then
      result=ok
      break
    fi
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    if grep -q 'ERROR: libFuzzer: timeout' "$log" && [ -n "$crash" ] && [ -f "$crash" ]; then
      ms=$(replay_ms "$t" "$crash")
      if [ "$ms" -lt 1000 ]; then
        mkdir -p "$artifacts/spurious"
        mv "$crash" "$artifacts/spurious/"
        spurious=$((spurious + 1))
        echo "    timeout not reproducible (the input runs in $ms ms alone): resuming ($log)"
        left=$([ "$mode" = runs ] && echo $((runs - total)) || echo $((seconds - ($(date +%s) - start))))
        if [ "$left" -gt 0 ] && [ "$spurious" -le 20 ]; then continue; fi
        result=ok
        break
      fi
      echo "    the timeout reproduces: the input takes $ms ms alone"
    fi
    kind=$(grep -m1 -oE 'deadly signal|panicked at|ERROR: libFuzzer: [a-z-]+|out-of-memory' "$log" || true)
    result="FAILED (exit $rc${kind:+, $kind})"
    failed+=("$t: ${crash:-no input written; see $log}")
    break
  done
  wall=$(($(date +%s) - start))
  rate=$([ "$wall" -gt 0 ] && echo $((total / wall)) || echo "?")
  corpus=$(find "$work" -type f | wc -l)
  note=
  [ "$spurious" -gt 0 ] && note=" ($spurious spurious timeouts set aside)"
  line=$(printf '%-13s %-30s %11s execs %7ss %7s exec/s %6s corpus %5s MB rss%s' \
    "$t" "$result" "$total" "$wall" "$rate" "$corpus" "${rss:-?}" "$note")
  echo "$line"
  summary+=("$line")
done

echo
echo "==> summary (exec/s over the wall time; logs: fuzz/artifacts/<target>/fuzz-N.log)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "crashing inputs:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
