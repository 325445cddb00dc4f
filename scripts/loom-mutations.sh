#!/usr/bin/env bash
# Weakens each fence and ordering in turn and runs the loom models against each mutant: every
# mutant must make at least one model fail, and the unmutated code must pass. Two sets:
# - the reader/writer handshake (src/algorithm.rs), against the models of tests/loom.rs;
# - the simulated push lock's word transitions (src/kernel/sim/pushlock.rs), against the wait/wake
#   models of tests/loom_pushlock.rs.
# Prints a table; exits non-zero if a mutant survives or the unmutated run fails.
#
#   scripts/loom-mutations.sh            # all mutations
#   LOOM_MAX_PREEMPTIONS=3 scripts/loom-mutations.sh
set -uo pipefail
cd "$(dirname "$0")/.."

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
target_dir="${CARGO_TARGET_DIR:-target}/loom-mutations"
# mutation:test-binary
mutations=(
    no_reader_fence:loom
    no_writer_fence:loom
    reader_acquire_relaxed:loom
    reader_release_relaxed:loom
    writer_acquire_relaxed:loom
    writer_release_relaxed:loom
    push_exclusive_acquire_relaxed:loom_pushlock
    push_shared_acquire_relaxed:loom_pushlock
    push_exclusive_release_relaxed:loom_pushlock
    push_shared_release_relaxed:loom_pushlock
)

run() { # $1: mutation or "none", $2: test binary; returns cargo's status
    local flags="--cfg loom"
    [ "$1" != none ] && flags="$flags --cfg ndis_rwlock_mutation=\"$1\""
    RUSTFLAGS="$flags" CARGO_TARGET_DIR="$target_dir/$1" \
        cargo test --locked --test "$2" -- --test-threads=2 >"$target_dir/$1.$2.log" 2>&1
}

mkdir -p "$target_dir"
status=0
printf '%-32s %-10s %s\n' mutation result "failing models"
for test in loom loom_pushlock; do
    if run none "$test"; then
        printf '%-32s %-10s %s\n' none pass "$test"
    else
        printf '%-32s %-10s (see %s)\n' none FAIL "$target_dir/none.$test.log"
        status=1
    fi
done
for entry in "${mutations[@]}"; do
    m="${entry%%:*}"
    test="${entry#*:}"
    log="$target_dir/$m.$test.log"
    if run "$m" "$test"; then
        printf '%-32s %-10s %s\n' "$m" SURVIVED "no model of $test failed"
        status=1
    else
        failing=$(grep -E '^test .* FAILED$' "$log" | awk '{print $2}' | tr '\n' ' ')
        if [ -z "$failing" ]; then
            printf '%-32s %-10s (build failed? see %s)\n' "$m" ERROR "$log"
            status=1
        else
            printf '%-32s %-10s %s\n' "$m" killed "$failing"
        fi
    fi
done
exit $status
