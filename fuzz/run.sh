#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/fuzz_targets/ for N seconds each.
#
#   fuzz/run.sh [seconds] [target...]     (default 300 s, every target)
#
# Targets are found by listing fuzz_targets/*.rs; each must also have a [[bin]]
# in fuzz/Cargo.toml (checked here). The corpus grows in fuzz/corpus/<target>
# (git-ignored), seeded from fuzz/seeds/<target> when that exists; crashes land
# in fuzz/artifacts/<target>. Runs under `nice -n 10` to spare a shared CPU.
#
# Env: FUZZ_SANITIZER (default "none": all fuzzed code is safe Rust, `unsafe`
# lives only in src/sys.rs, so ASan would slow every exec for nothing a
# bounds-checked panic does not already catch; set "address" to use it anyway).
# Debug assertions (and with them overflow checks) are always on.
# Exit status: 0 when every target ran clean, 1 otherwise.
set -euo pipefail

secs="${1:-300}"
shift || true
sanitizer="${FUZZ_SANITIZER:-none}"
fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$fuzz_dir")"
cd "$root"

listed="$(cargo +nightly fuzz list)"
status=0
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for file in "$fuzz_dir"/fuzz_targets/*.rs; do targets+=("$(basename "$file" .rs)"); done
fi
for target in "${targets[@]}"; do
    if ! grep -qx "$target" <<<"$listed"; then
        echo "run.sh: $target has no [[bin]] entry in fuzz/Cargo.toml" >&2
        status=1
        continue
    fi
    corpus=("$fuzz_dir/corpus/$target")
    mkdir -p "${corpus[0]}"
    if [ -d "$fuzz_dir/seeds/$target" ]; then
        corpus+=("$fuzz_dir/seeds/$target")
    fi
    echo "== $target: ${secs}s (sanitizer: $sanitizer)"
    if ! nice -n 10 cargo +nightly fuzz run --debug-assertions --sanitizer "$sanitizer" \
        "$target" "${corpus[@]}" -- -max_total_time="$secs" -print_final_stats=1; then
        echo "run.sh: $target FAILED (see fuzz/artifacts/$target)" >&2
        status=1
    fi
done
exit "$status"
