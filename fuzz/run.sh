#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and prints, per target, the
# executions made and the crashes found. Usage: bash fuzz/run.sh [SECONDS]
# (default 60 each). Needs cargo-fuzz (installed here if missing) and a
# nightly toolchain, or stable with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi
"${fuzz[@]}" build -O
printf '%-10s %12s %8s\n' target executions crashes
status=0
for t in keywords template roster webhooks; do
    log="$(mktemp)"
    # A seed copy, so the committed corpus only holds the hand-written seeds.
    work="$(mktemp -d)"
    cp corpus/"$t"/* "$work"/
    mkdir -p artifacts/"$t"
    before="$(ls artifacts/"$t" | wc -l)"
    "${fuzz[@]}" run -O "$t" "$work" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1 || true
    crashes=$(( $(ls artifacts/"$t" | wc -l) - before ))
    execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)"
    if [ -z "$execs" ]; then
        echo "--- $t did not run:"; tail -5 "$log"; status=1
    fi
    printf '%-10s %12s %8s\n' "$t" "${execs:-?}" "$crashes"
    if [ "$crashes" != 0 ]; then
        status=1
        echo "--- $t: see artifacts/$t/"
        grep -m3 -A3 'panicked' "$log" || true
    fi
    rm -rf "$work" "$log"
done
exit "$status"
