#!/usr/bin/env bash
# Builds the release binary: one static file with the native PostgreSQL
# parser (libpg_query through cgo) linked in, no shared libraries needed at
# run time (pure-Go DNS resolver and user lookup, so libc's NSS is not
# dlopen'ed). Needs a C compiler and the static libc (Debian: gcc, libc6-dev).
#
# The same build without this script, as the README gives it:
#   CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo \
#     -ldflags "-s -w -linkmode external -extldflags -static -X github.com/fleetgate/fleetgate.Version=$VERSION" \
#     -o fleetgate ./cmd/fleetgate
#
# Usage: scripts/build-release.sh [OUT] [VERSION]   (defaults: ./fleetgate, git describe)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-fleetgate}
version=${2:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo \
	-ldflags "-s -w -linkmode external -extldflags -static -X github.com/fleetgate/fleetgate.Version=$version" \
	-o "$out" ./cmd/fleetgate

# A dynamically linked result would fail on a minimal image (scratch,
# distroless/static) with a confusing "no such file or directory".
if command -v ldd >/dev/null && ldd "$out" >/dev/null 2>&1; then
	echo "build-release: $out is dynamically linked:" >&2
	ldd "$out" >&2
	exit 1
fi
echo "build-release: $out ($version), static, $(du -h "$out" | cut -f1)"
