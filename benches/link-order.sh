#!/bin/bash
# Writes src/link-order.txt: the functions of the release binary that run
# from main to an idle `serve` that has answered one health check, with its
# metrics endpoint on (Porch's Deployment turns it on: OTEL_METRICS_EXPORTER). build.rs
# has LLD place them first (docs/perf.md, "Idle RSS"). Run it after changes
# to start-up or the serving path, or after a toolchain update; needs
# valgrind (callgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin fn-runner
bin=target/release/fn-runner
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=19479
# Both YAML sequence styles, as users write them (testdata is block style).
cat >"$work/config.yaml" <<'YAML'
# start-up path of a typical config
functions:
  - function: set-labels
    images:
      - gcr.io/kpt-fn/set-labels:v0.2.0
  - function: cat
    images: [example.com/fn/cat:v1, "example.com/fn/cat:v2"]
YAML

valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.out" \
  "$bin" serve --port "$port" --config "$work/config.yaml" \
  --functions "$PWD/testdata/functions" --disable-runtimes=pod --log-level=0 \
  --metrics-address=127.0.0.1:0 \
  2>"$work/valgrind.log" &
server=$!
for _ in $(seq 200); do
  "$bin" health-probe -addr "127.0.0.1:$port" >/dev/null 2>&1 && break
  sleep 0.1
done
"$bin" health-probe -addr "127.0.0.1:$port"
# The grpc-go probe too when `cargo bench` has built it: the benchmark's
# idle RSS is measured after its check, and grpc-go's client sends frames
# ours does not (PING for its window estimate, other SETTINGS).
if [ -x target/goref/bin/probe ]; then
  target/goref/bin/probe -addr "127.0.0.1:$port" -every 5ms -timeout 20s
fi
sleep 1
# Dump what ran so far (start-up, one connection, idle), then stop.
callgrind_control --dump=idle "$server" >/dev/null
kill -TERM "$server"
wait "$server" || true
dump="$work/cg.out.1"  # the dump at idle; cg.out is the shutdown after it

python3 - "$dump" "$bin" > src/link-order.txt <<'PY'
import re, subprocess, sys

dump, binary = sys.argv[1], sys.argv[2]
objects, functions, ran, current = {}, {}, set(), None
for line in open(dump):
    m = re.match(r"^(c?ob)=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(3):
            objects[m.group(2)] = m.group(3).strip()
        if m.group(1) == "ob":
            current = m.group(2)
        continue
    m = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(3):
            name = re.sub(r"'\d+$", "", m.group(3).strip())
            # callgrind's name for the C start-up code before main
            functions[m.group(2)] = "_start" if name == "(below main)" else name
        if m.group(1) == "fn" and objects.get(current, "").endswith(binary.split("/")[-1]):
            ran.add(functions[m.group(2)])

address = {}
for line in subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in "tTwW":
        address[parts[2]] = int(parts[0], 16)
known = sorted((n for n in ran if n in address), key=address.get)
print(f"link-order: {len(known)} functions ran (of {len(ran)} seen)", file=sys.stderr)
print("\n".join(known))
PY
