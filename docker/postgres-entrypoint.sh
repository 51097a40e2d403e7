#!/bin/sh
# The compose stack's PostgreSQL (Debian's package): a cluster made on the first start in the named volume,
# with database and owner `voxmoji` (password POSTGRES_PASSWORD), then the server in the foreground.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set (make .env writes one)}"
data=/var/lib/postgresql/data/pgdata
bin=$(echo /usr/lib/postgresql/*/bin)
if [ ! -s "$data/PG_VERSION" ]; then
    password=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$password"
    "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile="$password" \
        -E UTF8 --locale=C.UTF-8
    rm -f "$password"
    echo "host all all all scram-sha-256" >>"$data/pg_hba.conf"
    "$bin/pg_ctl" -D "$data" -o "-c listen_addresses='' -k /tmp" -w start
    psql -h /tmp -U postgres -v ON_ERROR_STOP=1 -v password="$POSTGRES_PASSWORD" <<'SQL'
CREATE ROLE voxmoji LOGIN PASSWORD :'password';
CREATE DATABASE voxmoji OWNER voxmoji;
SQL
    "$bin/pg_ctl" -D "$data" -m fast -w stop
fi
# jit=off: the image leaves out LLVM (docker/apt-install.sh --without-mesa), which only the JIT loads.
exec "$bin/postgres" -D "$data" -c listen_addresses="${POSTGRES_LISTEN:-*}" -p "${PGPORT:-5432}" -k /tmp -c jit=off
