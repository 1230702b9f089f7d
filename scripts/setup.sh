#!/usr/bin/env bash
# Installs the database server binaries that the tests start for themselves
# (internal/dbtest): PostgreSQL 15, PgBouncer and MariaDB, and the C
# compiler and static C library that cgo and the release build need, from
# Debian's packages. It only installs what is missing, so running it again is
# cheap.
#
# The tests start their own throwaway servers on free loopback ports, so the
# packages' system services are not wanted: this script keeps them from
# starting while it installs, and stops any that did start.
#
# Usage: scripts/setup.sh && scripts/test.sh
# (as root, or as a user with sudo: it elevates itself only when something
# is missing, so a second run needs no password).
set -euo pipefail

squawk_version=2.66.0

have_all() {
	[[ -x /usr/lib/postgresql/15/bin/initdb && -x /usr/lib/postgresql/15/bin/pg_ctl && -x /usr/sbin/pgbouncer && -x /usr/sbin/mariadbd ]] &&
		command -v mariadb-install-db >/dev/null && [[ $(squawk --version 2>/dev/null) == "squawk $squawk_version" ]]
}

if [[ $(id -u) -ne 0 ]]; then
	if have_all; then
		echo "setup.sh: database binaries and squawk $squawk_version ready"
		exit 0
	fi
	if command -v sudo >/dev/null; then
		echo "setup.sh: installing packages needs root; re-running with sudo" >&2
		exec sudo --preserve-env=CI "$0" "$@"
	fi
	echo "setup.sh: must run as root to install packages, and sudo is not installed (run it as root)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

missing=()
[[ -x /usr/lib/postgresql/15/bin/initdb && -x /usr/lib/postgresql/15/bin/pg_ctl ]] || missing+=(postgresql-15)
[[ -x /usr/sbin/pgbouncer ]] || missing+=(pgbouncer)
{ [[ -x /usr/sbin/mariadbd ]] && command -v mariadb-install-db >/dev/null; } || missing+=(mariadb-server)
# cgo links PostgreSQL's parser (libpg_query) natively, and the release
# build links it statically (scripts/build-release.sh).
command -v gcc >/dev/null || missing+=(gcc)
[[ -e /usr/lib/x86_64-linux-gnu/libc.a || -e /usr/lib/aarch64-linux-gnu/libc.a ]] || missing+=(libc6-dev)

# services maps each package to the system service it ships.
declare -A services=([postgresql-15]=postgresql [pgbouncer]=pgbouncer [mariadb-server]=mariadb)

if ((${#missing[@]} > 0)); then
	echo "setup.sh: installing ${missing[*]}"
	# policy-rc.d exiting 101 tells invoke-rc.d and deb-systemd-invoke not
	# to start services from maintainer scripts. Keep an existing one.
	policy=/usr/sbin/policy-rc.d
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Stop system services that the packages installed now may have started.
# On CI the machine is ours, so stop any running instance of them; on a
# developer's machine leave services the developer had before alone.
stop=()
for pkg in "${missing[@]}"; do
	if [[ -n ${services[$pkg]:-} ]]; then
		stop+=("${services[$pkg]}")
	fi
done
if [[ ${CI:-} == true ]]; then
	stop=(postgresql pgbouncer mariadb)
fi
for svc in "${stop[@]}"; do
	if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
		# Installed for the tests only: don't start it at boot either.
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	elif [[ -x /etc/init.d/$svc ]]; then
		if /etc/init.d/"$svc" status >/dev/null 2>&1; then
			echo "setup.sh: stopping system service $svc"
			/etc/init.d/"$svc" stop || true
		fi
	fi
done

for bin in /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_ctl /usr/sbin/pgbouncer /usr/sbin/mariadbd; do
	if [[ ! -x $bin ]]; then
		echo "setup.sh: $bin is still missing after install" >&2
		exit 1
	fi
done
echo "setup.sh: database binaries ready"

# squawk, the PostgreSQL migration linter that internal/lint's comparison
# test runs beside fleetgate's checks. Pinned: docs/checks.md maps the rules
# of this release, and the test refuses another. npm comes from Debian's
# packages when the machine has no Node.js of its own.
if [[ $(squawk --version 2>/dev/null) != "squawk $squawk_version" ]]; then
	if ! command -v npm >/dev/null; then
		echo "setup.sh: installing nodejs npm"
		apt-get update -q
		apt-get install -y -q --no-install-recommends nodejs npm
	fi
	echo "setup.sh: installing squawk-cli@$squawk_version"
	npm install --global --no-audit --no-fund --include=optional "squawk-cli@$squawk_version"
	if [[ $(squawk --version 2>/dev/null) != "squawk $squawk_version" ]]; then
		echo "setup.sh: squawk $squawk_version is still missing after npm install (PATH: $PATH)" >&2
		exit 1
	fi
fi
echo "setup.sh: squawk $squawk_version ready"
