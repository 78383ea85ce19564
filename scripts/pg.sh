#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL server on 127.0.0.1 for the test suite.
#   scripts/pg.sh start DIR   -> prints the SQLAlchemy URL on stdout
#   scripts/pg.sh stop DIR
# Installs Debian's postgresql when no server binaries exist; runs the server as an
# unprivileged user (PostgreSQL refuses to run as root) in a temporary data directory.
set -euo pipefail

cmd=${1:?start|stop}
dir=${2:?data directory}
user=cohortbot-pg

find_bin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    return 1
}

as_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

case "$cmd" in
start)
    bin=$(find_bin || true)
    if [ -z "$bin" ]; then
        echo "pg.sh: installing Debian's postgresql" >&2
        if [ "$(id -u)" = 0 ]; then
            (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
        else
            (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
        fi
        bin=$(find_bin)
    fi
    if [ "$(id -u)" = 0 ] && ! id "$user" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown "$user" "$dir"
    chmod 700 "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_user "$bin/initdb" -D "$dir/data" -U cohortbot --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || as_user "$bin/initdb" -D "$dir/data" -U cohortbot --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1
    # Durability is not under test here; speed is. fsync off keeps the suite fast.
    as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >&2
    echo "$bin" >"$dir/bin"
    echo "postgresql+asyncpg://cohortbot@127.0.0.1:$port/postgres"
    ;;
stop)
    [ -f "$dir/bin" ] || exit 0
    bin=$(cat "$dir/bin")
    as_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
