#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 60) with cargo-fuzz on nightly; fails on
# the first crash, mismatch with the model or hang. Installs cargo-fuzz if it is missing.
# Each target covers all three locks (NDIS_RW_LOCK_EX, the push locks, the legacy
# NDIS_RW_LOCK); an input's first byte picks one.
#
#   scripts/fuzz.sh          # 60 s per target
#   scripts/fuzz.sh 600      # 10 minutes per target
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
for target in sequence concurrent; do
    echo "== fuzz $target for ${seconds}s"
    # LeakSanitizer checks both targets, after every input that allocated more than it freed
    # and at exit: the concurrent checkers join every thread they spawn, so a thread's
    # thread-local state (its simulated-kernel lease, its held-lock list) is gone before it
    # looks.
    # The targets boot a simulated machine of 66 processors (so that legacy-lock inputs also
    # run on processors without a reader slot); a spinning hang becomes a DPC-watchdog stop
    # after 10 s, a sleeping one (push locks) an abort after 30 s.
    cargo +nightly fuzz run "$target" -- \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
        -detect_leaks=1
done
