#!/bin/bash
# First start (an empty PGDATA): make the cluster with POSTGRES_USER and
# POSTGRES_PASSWORD (scram-sha-256 over the network, trust on the local
# socket, as the official image), and the database POSTGRES_DB. Later
# starts use the volume as it is.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?postgres: POSTGRES_PASSWORD is not set}"
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  pw=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pw"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pw" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pw"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
    createdb -U "$user" "$db"
    pg_ctl -D "$PGDATA" -m fast -w -s stop
  fi
  echo "postgres: made the cluster in $PGDATA (user $user, database $db)"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
