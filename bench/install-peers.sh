#!/usr/bin/env bash
# Installs the peer migration tools that the benchmark compares fleetgate with,
# at pinned versions, into bench/.bin (gitignored). Idempotent: a tool whose
# binary already reports the pinned version is not rebuilt.
#
#   goose          github.com/pressly/goose/v3/cmd/goose          v3.29.0  (the postgres and mysql drivers)
#   golang-migrate github.com/golang-migrate/migrate/v4/cmd/migrate v4.20.1 (-tags postgres,mysql)
#   dbmate         github.com/amacneil/dbmate/v2                  v2.35.0  (built from the module cache)
set -euo pipefail

GOOSE_VERSION=v3.29.0
MIGRATE_VERSION=v4.20.1
DBMATE_VERSION=v2.35.0

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/.bin"
mkdir -p "$bin"
export GOBIN="$bin"
# Build outside any module so neither fleetgate's go.mod nor bench/go.mod
# takes part in resolving the peers' dependencies.
export GOWORK=off
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
# The peers talk to PostgreSQL and MariaDB over the network only; no cgo
# needed (dbmate's sqlite driver is cgo-only and is left out that way).
export CGO_ENABLED=0

# Every goose driver except postgres sits behind a no_<driver> build tag
# (cmd/goose/driver_*.go in v3.29.0). sqlite3, clickhouse, mssql, azuresql,
# vertica, ydb and turso(libsql) are excluded; postgres and mysql stay.
GOOSE_TAGS=no_sqlite3,no_clickhouse,no_mssql,no_azuresql,no_vertica,no_ydb,no_libsql
# golang-migrate compiles in only the database drivers named by tags.
MIGRATE_TAGS=postgres,mysql

log() { printf 'install-peers: %s\n' "$*" >&2; }

# has_module_version BIN MODULE VERSION: the binary was built by `go install MODULE/...@VERSION`.
has_module_version() {
	[ -x "$1" ] || return 1
	go version -m "$1" 2>/dev/null | awk -v m="$2" -v v="$3" '$1=="mod" && $2==m && $3==v {found=1} END {exit !found}'
}

# has_build_tags BIN TAGS: the binary was built with exactly these -tags.
has_build_tags() {
	go version -m "$1" 2>/dev/null | awk -v t="-tags=$2" '$1=="build" && $2==t {found=1} END {exit !found}'
}

# goose ---------------------------------------------------------------------
if has_module_version "$bin/goose" github.com/pressly/goose/v3 "$GOOSE_VERSION" && has_build_tags "$bin/goose" "$GOOSE_TAGS"; then
	log "goose $GOOSE_VERSION already installed"
else
	log "installing goose $GOOSE_VERSION (tags $GOOSE_TAGS)"
	go install -trimpath -tags "$GOOSE_TAGS" "github.com/pressly/goose/v3/cmd/goose@$GOOSE_VERSION"
fi

# golang-migrate --------------------------------------------------------------
if has_module_version "$bin/migrate" github.com/golang-migrate/migrate/v4 "$MIGRATE_VERSION" && has_build_tags "$bin/migrate" "$MIGRATE_TAGS"; then
	log "migrate $MIGRATE_VERSION already installed"
else
	log "installing golang-migrate $MIGRATE_VERSION (tags $MIGRATE_TAGS)"
	go install -trimpath -tags "$MIGRATE_TAGS" "github.com/golang-migrate/migrate/v4/cmd/migrate@$MIGRATE_VERSION"
fi

# dbmate ----------------------------------------------------------------------
# `go install github.com/amacneil/dbmate/v2@v2.35.0` needs the module's version
# list, which the proxy refuses here; downloading the exact version works, so
# build it from a writable copy of the module cache directory (the cache
# itself is read-only).
dbmate_has_version() {
	[ -x "$bin/dbmate" ] && [ "$("$bin/dbmate" --version 2>/dev/null | awk '{print $NF}')" = "${DBMATE_VERSION#v}" ]
}
if dbmate_has_version; then
	log "dbmate $DBMATE_VERSION already installed"
else
	log "building dbmate $DBMATE_VERSION from the module cache"
	dir="$(cd / && go mod download -json "github.com/amacneil/dbmate/v2@$DBMATE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[ -n "$dir" ] && [ -d "$dir" ] || { log "go mod download gave no Dir for dbmate"; exit 1; }
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	cp -R "$dir/." "$tmp/dbmate"
	chmod -R u+w "$tmp/dbmate"
	# Build exactly as released (its go.sum is complete); -mod=mod only as a
	# fallback should the checksums of a dependency be missing.
	(cd "$tmp/dbmate" && go build -trimpath -o "$bin/dbmate" .) ||
		(cd "$tmp/dbmate" && GOFLAGS="$GOFLAGS -mod=mod" go build -trimpath -o "$bin/dbmate" .)
	dbmate_has_version || { log "built dbmate does not report version $DBMATE_VERSION"; exit 1; }
fi

log "peers in $bin:"
"$bin/goose" --version >&2
"$bin/migrate" -version 2>&1 | sed 's/^/migrate /' >&2
"$bin/dbmate" --version >&2
