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
# Usage: sudo scripts/setup.sh && scripts/test.sh
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
	echo "setup.sh: must run as root to install packages (try: sudo $0)" >&2
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
