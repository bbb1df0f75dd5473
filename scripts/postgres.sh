#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests (and for trying two server instances
# by hand). Idempotent.
#
#   scripts/postgres.sh start [DIR]   installs PostgreSQL if missing (Debian, as root), creates
#                                     a cluster in DIR (default: $FIELDSYNC_PG_DIR, else
#                                     ${TMPDIR:-/tmp}/fieldsync-postgres) unless it is there,
#                                     starts it on 127.0.0.1 on a free port unless it runs, and
#                                     prints its URL (the only line on stdout)
#   scripts/postgres.sh url [DIR]     prints the URL of the running cluster in DIR
#   scripts/postgres.sh stop [DIR]    stops the cluster and deletes DIR
#
# DIR must be outside the repository. The cluster trusts local connections (loopback only) and
# runs with fsync off: it is for tests, and it is deleted on stop. It loads pg_stat_statements, so
# the server bench can count the statements per sync. As root, the cluster runs as
# the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

command=${1:-}
dir=${2:-${FIELDSYNC_PG_DIR:-${TMPDIR:-/tmp}/fieldsync-postgres}}
data="$dir/data"

say() { echo "postgres.sh: $*" >&2; }

find_bin() {
    # The newest installed major version.
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n $bin && -x $bin/postgres ]]; then
        echo "$bin"
    fi
}

install_postgres() {
    if [[ -n $(find_bin) ]]; then
        return
    fi
    if [[ $(id -u) -ne 0 ]]; then
        say "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres) and this is not root:"
        say "install it (Debian: apt-get install postgresql) or set FIELDSYNC_TEST_DATABASE_URL"
        exit 1
    fi
    say "installing PostgreSQL (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends postgresql </dev/null >&2
    if [[ -z $(find_bin) ]]; then
        say "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/postgres was found"
        exit 1
    fi
}

# Runs a PostgreSQL program as the cluster's owner.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [[ -f $data/PG_VERSION ]] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

url() {
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
}

port_free() {
    # A connection that succeeds means something listens there.
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

case $command in
start)
    case $(realpath -m "$dir")/ in
    "$(realpath "$(dirname "$0")/..")"/*)
        say "$dir is inside the repository: pick a directory outside it"
        exit 1
        ;;
    esac
    install_postgres
    bin=$(find_bin)
    if running && [[ -f $dir/port ]]; then
        url
        exit 0
    fi
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$dir"
    fi
    if [[ ! -f $data/PG_VERSION ]]; then
        rm -rf "$data"
        as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 || {
            cat "$dir/initdb.log" >&2
            exit 1
        }
    fi
    # A free port: try random ones; a start that loses a race for the port is tried again.
    for _ in $(seq 1 20); do
        port=$((20000 + RANDOM % 40000))
        port_free "$port" || continue
        if as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_preload_libraries=pg_stat_statements" \
            start >&2; then
            echo "$port" >"$dir/port"
            say "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (cluster in $dir)"
            url
            exit 0
        fi
        tail -n 5 "$dir/server.log" >&2 || true
    done
    say "could not start PostgreSQL (see $dir/server.log)"
    exit 1
    ;;
url)
    bin=$(find_bin)
    if [[ -n $bin ]] && running && [[ -f $dir/port ]]; then
        url
    else
        say "no cluster runs in $dir"
        exit 1
    fi
    ;;
stop)
    bin=$(find_bin)
    if [[ -n $bin ]] && running; then
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|url|stop [DIR]" >&2
    exit 2
    ;;
esac
