#!/bin/sh
# ApplicationStart: the server, with the app's own credentials
# (/etc/api/app.env); the schema is already there.
set -eu
systemctl start api.service
