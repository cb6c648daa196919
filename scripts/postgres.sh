# Sourced by scripts/run-demo and scripts/test: makes sure DATABASE_URL points at a PostgreSQL
# server that is up, and exports it.
#
# - DATABASE_URL set: it is used as it is; nothing is installed or started.
# - unset: a PostgreSQL on 127.0.0.1:5432 is used when one answers; otherwise Debian's
#   `postgresql` package is installed when missing and its cluster started. A `deskpulse` role
#   (allowed to create databases, for the tests) and database are created when missing.
# Works as root (the server itself runs as the `postgres` system user through Debian's cluster
# tools) and as a normal user with sudo.

set -euo pipefail

deskpulse_default_url="postgres://deskpulse:deskpulse@127.0.0.1:5432/deskpulse"

say() { printf 'deskpulse setup: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

# diesel links libpq, so building deskpulse needs its headers.
ensure_build_prerequisites() {
    if ! dpkg -s libpq-dev >/dev/null 2>&1; then
        say "installing libpq-dev (needed to build deskpulse)"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq libpq-dev pkg-config >/dev/null
    fi
}

# The fault tests (tests/api/faults.rs) run a PostgreSQL of their own with initdb and pg_ctl, also
# when DATABASE_URL points at another server.
ensure_postgres_server_programs() {
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        say "installing PostgreSQL's server programs (the fault tests start a PostgreSQL of their own)"
        install_postgres
    fi
}

# Pages are tested in a real browser: tests/api/headers.rs opens GraphiQL in headless Chromium,
# tests/api/ui.rs drives the report pages through chromedriver (W3C WebDriver).
ensure_browser() {
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        say "installing Chromium (the page tests open the pages in a real browser)"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
}

local_postgres_answers() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 -t 2
}

install_postgres() {
    say "installing PostgreSQL from Debian's packages"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql postgresql-contrib >/dev/null
}

start_local_cluster() {
    local version
    version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] || { say "no PostgreSQL server found under /usr/lib/postgresql"; return 1; }
    if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$version main"; then
        say "creating PostgreSQL $version cluster 'main'"
        as_root pg_createcluster "$version" main -p 5432 >/dev/null
    fi
    say "starting PostgreSQL $version"
    # Without systemd (containers, CI) pg_ctlcluster starts the server directly.
    as_root pg_ctlcluster "$version" main start || true
    for _ in $(seq 1 30); do
        local_postgres_answers && return 0
        sleep 1
    done
    say "PostgreSQL did not come up; see /var/log/postgresql/postgresql-$version-main.log"
    return 1
}

create_role_and_database() {
    as_postgres psql -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -d postgres <<'SQL'
SELECT 'CREATE ROLE deskpulse LOGIN CREATEDB PASSWORD ''deskpulse'''
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'deskpulse') \gexec
SELECT 'CREATE DATABASE deskpulse OWNER deskpulse'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'deskpulse') \gexec
SQL
}

ensure_database() {
    if [ -n "${DATABASE_URL:-}" ]; then
        say "using DATABASE_URL from the environment"
        export DATABASE_URL
        return 0
    fi
    if ! local_postgres_answers; then
        if [ ! -x "$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | tail -n 1)" ] \
            || ! command -v pg_ctlcluster >/dev/null 2>&1; then
            install_postgres
        fi
        start_local_cluster
    fi
    create_role_and_database || say "could not create the deskpulse role and database as the postgres user; set DATABASE_URL to use another server"
    export DATABASE_URL="$deskpulse_default_url"
    say "using $DATABASE_URL"
}
