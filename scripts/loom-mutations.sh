#!/usr/bin/env bash
# Weakens each fence and ordering of the reader/writer handshake (src/rwcore.rs) in turn and
# runs the loom models (tests/loom.rs) against each mutant: every mutant must make at least one
# model fail, and the unmutated code must pass. Prints a table; exits non-zero if a mutant
# survives or the unmutated run fails.
#
#   scripts/loom-mutations.sh            # all mutations
#   LOOM_MAX_PREEMPTIONS=3 scripts/loom-mutations.sh
set -uo pipefail
cd "$(dirname "$0")/.."

export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
target_dir="${CARGO_TARGET_DIR:-target}/loom-mutations"
mutations=(
    no_reader_fence
    no_writer_fence
    reader_acquire_relaxed
    reader_release_relaxed
    writer_acquire_relaxed
    writer_release_relaxed
)

run() { # $1: mutation or "none"; prints the failing models, returns cargo's status
    local flags="--cfg loom"
    [ "$1" != none ] && flags="$flags --cfg ndis_rwlock_mutation=\"$1\""
    RUSTFLAGS="$flags" CARGO_TARGET_DIR="$target_dir/$1" \
        cargo test --locked --test loom -- --test-threads=2 >"$target_dir/$1.log" 2>&1
}

mkdir -p "$target_dir"
status=0
printf '%-26s %-10s %s\n' mutation result "failing models"
if run none; then
    printf '%-26s %-10s\n' none pass
else
    printf '%-26s %-10s (see %s)\n' none FAIL "$target_dir/none.log"
    status=1
fi
for m in "${mutations[@]}"; do
    if run "$m"; then
        printf '%-26s %-10s %s\n' "$m" SURVIVED "no model failed"
        status=1
    else
        failing=$(grep -E '^test .* FAILED$' "$target_dir/$m.log" | awk '{print $2}' | tr '\n' ' ')
        if [ -z "$failing" ]; then
            printf '%-26s %-10s (build failed? see %s)\n' "$m" ERROR "$target_dir/$m.log"
            status=1
        else
            printf '%-26s %-10s %s\n' "$m" killed "$failing"
        fi
    fi
done
exit $status
