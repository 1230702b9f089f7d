#!/bin/sh
# ApplicationStop: api.service (see deploy/systemd) stops its server.
set -eu
systemctl stop api.service || true
