#!/usr/bin/env bash
# Instructions and locked instructions per read (and, for the `write:` rows, write)
# acquire+release pair, counted with valgrind's callgrind (deterministic: the counts repeat
# exactly for the same binary).
#
# examples/callgrind_pairs.rs has one non-inlined wrapper per lock that takes and releases one
# read (or write) acquisition. For every lock this script runs the program twice under callgrind,
# collecting only inside the wrapper (and what it calls), with N and 2N pairs; the difference
# divided by N is the cost of one pair with the loop and every one-time cost removed. Locked
# read-modify-write instructions (a `lock` prefix, or `xchg` with memory, which is implicitly
# locked) and fences (`mfence`, or `lock or $0,(%rsp)`, which is how Rust's fence(SeqCst)
# compiles on x86-64: a locked instruction on the thread's own stack line) are found in the
# disassembly (objdump) of every object that ran and weighted with callgrind's per-instruction
# counts.
#
# Usage: scripts/callgrind.sh [pairs]   (default 20000; needs valgrind, objdump, awk)
# Also `cargo make callgrind`.
set -euo pipefail
cd "$(dirname "$0")/.."

n="${1:-20000}"
for tool in valgrind objdump awk; do
    command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is not installed" >&2; exit 1; }
done

cargo build --release --locked --example callgrind_pairs >&2
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target_dir/release/examples/callgrind_pairs"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The locked instructions and fences of one object file: "address kind" per line, addresses
# as callgrind prints them (file-relative, lower-case hex without leading zeros).
locked_of() {
    local object="$1" out
    out="$work/locked.$(printf '%s' "$object" | cksum | cut -d' ' -f1)"
    if [[ ! -f "$out" ]]; then
        objdump -d --no-show-raw-insn "$object" 2>/dev/null | awk '
            /^ *[0-9a-f]+:\t/ {
                addr = $1; sub(":", "", addr); sub(/^0+/, "", addr)
                line = $0; sub(/^[^\t]*\t/, "", line)
                # `lock or $0,(%rsp)`: how Rust emits a full fence (fence(SeqCst)) on x86-64.
                if (line ~ /^lock +orl? +\$0x0,.*\(%rsp\)/) print addr, "fence"
                else if (line ~ /^lock /) print addr, "locked"
                else if (line ~ /^xchg/ && line ~ /\(/) print addr, "locked"
                else if (line ~ /^mfence/) print addr, "fence"
            }' >"$out"
    fi
    printf '%s\n' "$out"
}

# Runs `lock` with `pairs` pairs; prints "instructions locked fences" collected in the wrapper.
measure() {
    local lock="$1" pairs="$2" wrapper out
    wrapper="$("$bin" "$lock" 0 | awk '/^wrapper / { print $2 }')"
    out="$work/${lock//:/_}.$pairs.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=yes --dump-line=no \
        --compress-strings=no --compress-pos=no --collect-atstart=no \
        --toggle-collect="$wrapper" "$bin" "$lock" "$pairs" >/dev/null 2>"$work/valgrind.log" || {
        cat "$work/valgrind.log" >&2
        exit 1
    }
    # Self cost per (object, address); the line after `calls=` is a call's inclusive cost.
    awk '
        /^ob=/ { ob = substr($0, 4) }
        /^calls=/ { skip = 1; next }
        /^0x/ { if (!skip) { a = substr($1, 3); sub(/^0+/, "", a); cost[ob " " a] += $2 } skip = 0; next }
        { skip = 0 }
        /^summary:/ { total = $2 }
        END { print "total", total; for (k in cost) print k, cost[k] }
    ' "$out" >"$work/costs"
    local total locked=0 fences=0 object
    total="$(awk '$1 == "total" { print $2 }' "$work/costs")"
    while read -r object; do
        [[ -f "$object" ]] || continue
        read -r l f < <(awk -v ob="$object" '
            NR == FNR { kind[$1] = $2; next }
            $1 == ob && ($2 in kind) { if (kind[$2] == "locked") l += $3; else f += $3 }
            END { print l + 0, f + 0 }
        ' "$(locked_of "$object")" "$work/costs")
        locked=$((locked + l))
        fences=$((fences + f))
    done < <(awk '$1 != "total" { print $1 }' "$work/costs" | sort -u)
    echo "$total $locked $fences"
}

printf '%-30s %14s %10s %8s\n' "lock (acquire+release pair)" "instructions" "locked" "fences"
while read -r lock; do
    read -r i1 l1 f1 < <(measure "$lock" "$n")
    read -r i2 l2 f2 < <(measure "$lock" $((2 * n)))
    awk -v name="$lock" -v n="$n" -v i="$((i2 - i1))" -v l="$((l2 - l1))" -v f="$((f2 - f1))" \
        'BEGIN { printf "%-30s %14.1f %10.2f %8.2f\n", name, i / n, l / n, f / n }'
done < <("$bin" --list)
