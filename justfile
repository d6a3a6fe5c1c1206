# The two commands that do everything: `just demo` and `just test`.
# Run `just --list` for the rest.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Debian packages the project runs (servers it starts as real processes).
packages := "redis-server redis-sentinel haproxy rabbitmq-server postgresql"

# Build in release mode and show a node dying under every twin, side by side.
demo: deps
    cargo build --release --workspace --bins
    target/release/harness demo

# The same demo with a real HAProxy per twin between the users and the nodes (docs/haproxy.md).
demo-haproxy: deps
    cargo build --release --workspace --bins
    target/release/harness demo --lb haproxy

# Every test, every bench once in test mode, clippy with warnings denied, a few seconds of each
# fuzz target, and the book.
test: deps
    cargo build --workspace --bins
    cargo test --workspace --all-targets
    cargo clippy --workspace --all-targets -- -D warnings
    just fuzz-smoke
    just book

# A few seconds of each fuzz target on its committed corpus (fuzz/, docs/reliability.md).
fuzz-smoke: fuzz-tool
    just fuzz-each 5 500000

# Each fuzz target for `seconds` (what it finds new goes to fuzz/target/corpus, a crash to fuzz/artifacts).
fuzz seconds="600": fuzz-tool
    just fuzz-each {{seconds}} -1

# Runs every fuzz target for at most `seconds` and `runs` inputs (-1: no bound on inputs). Stable
# Rust: no sanitizer (ASan needs nightly's -Z flags); the targets check their own properties.
fuzz-each seconds runs:
    #!/usr/bin/env bash
    set -euo pipefail
    cd fuzz
    cargo fuzz build --sanitizer none
    for target in $(cargo fuzz list); do
      mkdir -p "target/corpus/$target"
      log="target/$target.log"
      if cargo fuzz run --sanitizer none "$target" "target/corpus/$target" "corpus/$target" -- \
          -max_total_time={{seconds}} -runs={{runs}} -print_final_stats=1 >"$log" 2>&1; then
        echo "$target: $(grep -E '^Done' "$log")"
      else
        cat "$log"
        echo "$target: FAILED (the input that failed is in fuzz/artifacts/$target)"
        exit 1
      fi
    done

# cargo-fuzz, built from crates.io where missing (libFuzzer itself is built with the targets).
fuzz-tool:
    command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# Every twin under steady load with session churn, one after another (docs/reliability-load.md).
# A soak of `per_side` per twin, about ten minutes in all: memory levels off, expired sessions are freed.
soak per_side="3m": deps
    cargo build --release --workspace --bins
    target/release/harness run soak --duration {{per_side}} --users 100

# Lookups in RAM and Redis, Redis under 64 tasks beside redis-benchmark, RAM per session and
# `/me` beside actix-session, the store on redis-rs and on a cluster (redis_topologies).
# Plots: target/criterion/report/index.html; docs/benchmarks.md.
# Run the criterion benches with quick settings (a few minutes on 2 cores).
bench: deps
    mkdir -p target
    cargo bench -p stateful-vs-stateless --benches 2>&1 | tee target/bench.txt

# Each figure beside wrk's for the same node and endpoint, where wrk is installed (docs/benchmarks.md).
# HTTP req/s, p50/p99 and CPU per request of /healthz, /me and POST /cart, one node per twin (harness bench + wrk).
bench-http: deps
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --workspace --bins
    if command -v wrk >/dev/null 2>&1; then
      target/release/harness bench --wrk
    else
      echo "wrk is not installed: measuring with the harness only (install it with: sudo apt-get install -y wrk)"
      target/release/harness bench
    fi

# Build the book (docs/, chapters in docs/SUMMARY.md) into target/book.
book: book-tool
    mdbook build book

# Serve the built book on http://127.0.0.1:3000, loopback only (Ctrl-C stops it).
book-serve: book
    python3 -m http.server 3000 --bind 127.0.0.1 --directory target/book

# Re-run every command whose output the book shows; rewrite its figures and charts.
docs: deps
    cargo build --release --workspace --bins
    cargo run -p xtask -- docs

# Run only the captures a page has just added (their block is still empty), then fill every figure.
docs-new: deps
    cargo build --release --workspace --bins
    cargo run -p xtask -- docs --new

# mdBook, built from crates.io where missing (HTML and search only: no web server).
book-tool:
    command -v mdbook >/dev/null 2>&1 || cargo install mdbook --locked --no-default-features --features search

# Install the Debian packages above where missing (as root), or say how; and the S3 server.
deps:
    #!/usr/bin/env bash
    set -euo pipefail
    # The S3-compatible server that tests and the harness start (crates/local-s3), from crates.io.
    command -v s3s-fs >/dev/null 2>&1 || [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs" ] \
      || cargo install --locked s3s-fs --version 0.14.1 --features binary
    missing=()
    for pkg in {{packages}}; do
      bin="$pkg"
      if [ "$pkg" = postgresql ]; then
        # Debian keeps initdb outside the PATH, in /usr/lib/postgresql/VERSION/bin.
        command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=("$pkg")
        continue
      fi
      # haproxy lives in /usr/sbin, which a non-root PATH often lacks.
      command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && exit 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing: ${missing[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "missing: ${missing[*]}. Install with:"
      echo "  sudo apt-get install -y ${missing[*]}"
      exit 1
    fi

# Start a stateful node in the foreground (Ctrl-C stops it).
stateful port="8081":
    cargo run --release -p stateful-server -- --port {{port}}

# Start a stateless node in the foreground against REDIS_URL.
stateless port="8082" redis="redis://127.0.0.1:6379":
    cargo run --release -p stateless-server -- --port {{port}} --redis-url {{redis}}
