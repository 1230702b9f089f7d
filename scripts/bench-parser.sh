#!/usr/bin/env bash
# Measures the candidate builds of PostgreSQL's parser (libpg_query) on the
# 1,000 files of scripts/bench-check.sh: load time (the first parse of a
# process), mean time per file, total, CPU and peak RSS of the process.
# Prints the markdown rows of the table in docs/checks.md.
#
# Candidates, each a fresh process per run:
#   native       pg_query_go's libpg_query through cgo (what `go build`
#                links in when a C compiler is present)
#   wazero       go-pgquery as fleetgate uses it without cgo: wazero's
#                compiler, in-memory compilation cache
#   wazero-cache the compiler with a compilation cache on disk: first run
#                (cold, fills the cache) and a later run (warm)
#   interpreter  wazero's interpreter (no compilation)
# The wazero variants are one binary built from a copy of go-pgquery whose
# runtime configuration is read from the environment
# (scripts/bench-parser/wazero_config.go); the module cache is not touched.
#
# Usage: scripts/bench-parser.sh [FILES] [RUNS]   (defaults: 1000 files, 3 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

files=${1:-1000}
runs=${2:-3}
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

bash scripts/bench-check.sh --generate "$work/migrations" "$files"

pgq_dir=$(go list -m -f '{{.Dir}}' github.com/wasilibs/go-pgquery)
pgq_ver=$(go list -m -f '{{.Version}}' github.com/wasilibs/go-pgquery)
pgqg_ver=$(go list -m -f '{{.Version}}' github.com/pganalyze/pg_query_go/v6)
wazero_ver=$(go list -m -f '{{.Version}}' github.com/tetratelabs/wazero)

# A copy of go-pgquery with its runtime configuration made selectable.
cp -r "$pgq_dir" "$work/go-pgquery"
chmod -R u+w "$work/go-pgquery"
cp scripts/bench-parser/wazero_config.go "$work/go-pgquery/parser/"
sed -i '1d' "$work/go-pgquery/parser/wazero_config.go" # drop the ignore tag
perl -0pi -e 's/wazero\.NewRuntimeConfig\(\)\.\s*WithCompilationCache\(wazero\.NewCompilationCache\(\)\)\./runtimeConfig()./' \
	"$work/go-pgquery/parser/parser_wazero.go"
grep -q 'runtimeConfig()' "$work/go-pgquery/parser/parser_wazero.go" || {
	echo "bench-parser: could not patch go-pgquery's runtime configuration" >&2
	exit 1
}

build() { # build NAME CGO FILES...
	local name=$1 cgo=$2
	shift 2
	local dir="$work/src-$name"
	mkdir -p "$dir"
	for f in main.go "$@"; do sed '1d' "scripts/bench-parser/$f" >"$dir/$f"; done
	cat >"$dir/go.mod" <<MOD
module benchparser

go 1.26

require (
	github.com/pganalyze/pg_query_go/v6 $pgqg_ver
	github.com/wasilibs/go-pgquery $pgq_ver
	github.com/tetratelabs/wazero $wazero_ver
)

replace github.com/wasilibs/go-pgquery => $work/go-pgquery
MOD
	cp "$repo/go.sum" "$dir/go.sum"
	(cd "$dir" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=$cgo go build -o "$work/$name" . 2>&1) >&2
}
build native 1 native.go
build wazero 0 wazero.go

echo "bench-parser: $files files, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); pg_query_go $pgqg_ver, go-pgquery $pgq_ver, wazero $wazero_ver"
echo "| build | load | per file | $files files | load + files | CPU | peak RSS |"
echo "|---|---|---|---|---|---|---|"
for ((r = 1; r <= runs; r++)); do
	"$work/native" "native (cgo)" "$work/migrations"
	"$work/wazero" "wazero compiler" "$work/migrations"
	rm -rf "$work/cache"
	BENCH_WAZERO_CACHE="$work/cache" "$work/wazero" "wazero compiler, disk cache, cold" "$work/migrations"
	BENCH_WAZERO_CACHE="$work/cache" "$work/wazero" "wazero compiler, disk cache, warm" "$work/migrations"
	BENCH_WAZERO=interpreter "$work/wazero" "wazero interpreter" "$work/migrations"
done
