#!/usr/bin/env bash
# Builds the two images `REACTOR_TEST_SERVICES=containers npm test` needs, for machines where no
# image registry is reachable but Debian's package mirror is:
#
#   reactor-test/postgres:15  Debian's postgresql-15, with an entrypoint that keeps the official
#                             postgres image's contract (POSTGRES_PASSWORD / POSTGRES_USER /
#                             POSTGRES_DB, initdb on first start, scram auth from any address,
#                             port 5432, `postgres -c name=value ...` as the command, and the log
#                             line "database system is ready to accept connections" twice on the
#                             first start: once for the init server, once for the real one).
#   reactor-test/nats:2.9     Debian's nats-server (2.9, JetStream), started with the container's
#                             command as its arguments (like the official nats image), on port 4222.
#
# Both come from one `debootstrap --variant=minbase` root filesystem plus Debian's packages, turned
# into images with `docker import`; nothing is pulled from any registry. Then:
#
#   REACTOR_TEST_SERVICES=containers \
#   REACTOR_TEST_POSTGRES_IMAGE=reactor-test/postgres:15 \
#   REACTOR_TEST_NATS_IMAGE=reactor-test/nats:2.9 npm test
#
# Needs root, debootstrap (apt-get install -y debootstrap) and a running Docker engine. Idempotent:
# an image that exists is left alone (--force rebuilds both), and the base root filesystem is kept
# in the work directory for the next build (--clean removes the work directory afterwards).
#
# Settings (environment):
#   REACTOR_TEST_IMAGES_DIR  work directory (default /var/tmp/reactor-test-images; never the repo)
#   DEBIAN_MIRROR            default: the first deb.debian.org-style URI in this machine's apt
#                            sources, else http://deb.debian.org/debian
#   DEBIAN_SECURITY_MIRROR   default: http://deb.debian.org/debian-security
#   DEBIAN_SUITE             default: bookworm
set -euo pipefail

force=false
clean=false
for arg in "$@"; do
  case "$arg" in
    --force) force=true ;;
    --clean) clean=true ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "unknown argument: $arg (use --force, --clean or --help)" >&2
      exit 2
      ;;
  esac
done

postgres_tag=reactor-test/postgres:15
nats_tag=reactor-test/nats:2.9
work=${REACTOR_TEST_IMAGES_DIR:-/var/tmp/reactor-test-images}
suite=${DEBIAN_SUITE:-bookworm}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if [ "$(id -u)" != 0 ]; then
  echo "test-images.sh needs root (debootstrap and chroot): run it with sudo" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  echo "debootstrap is missing: apt-get install -y debootstrap" >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  echo "no Docker engine answers: install docker.io and start dockerd first" >&2
  exit 1
fi

host_mirror() {
  # The main archive this machine's apt uses (deb822 "URIs:" or one-line "deb" entries).
  local uri
  uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}//p' |
    awk '{print $1}' | grep -E '/debian/?$' | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
mirror=${DEBIAN_MIRROR:-$(host_mirror)}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

if ! $force && image_exists "$postgres_tag" && image_exists "$nats_tag"; then
  echo "$postgres_tag and $nats_tag exist (--force rebuilds them)"
  exit 0
fi

mkdir -p "$work"
base="$work/base"
mounted=()
cleanup() {
  local m
  for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT

if [ ! -f "$base/.complete" ]; then
  echo "== debootstrap $suite (minbase) from $mirror into $base"
  rm -rf "$base"
  debootstrap --variant=minbase "$suite" "$base" "$mirror"
  touch "$base/.complete"
fi

# A copy of the base root filesystem at $1 with Debian's packages $2 installed; $3, if given, is a
# function run with the directory before the installation.
prepare_rootfs() {
  local dir=$1 packages=$2 before=${3:-}
  rm -rf "$dir"
  cp -a "$base" "$dir"
  rm -f "$dir/.complete"
  if [ -n "$before" ]; then "$before" "$dir"; fi
  cat >"$dir/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  # No services start inside the chroot.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 755 "$dir/usr/sbin/policy-rc.d"
  mount -t proc proc "$dir/proc"
  mounted+=("$dir/proc")
  chroot "$dir" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages && apt-get clean"
  umount "$dir/proc"
  mounted=()
  rm -rf "$dir"/var/lib/apt/lists/* "$dir/usr/sbin/policy-rc.d"
  : >"$dir/etc/resolv.conf"
}

import_rootfs() {
  local dir=$1 tag=$2
  shift 2
  local previous
  previous=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  echo "== docker import $tag"
  tar --numeric-owner -C "$dir" -c . | docker import "$@" - "$tag" >/dev/null
  rm -rf "$dir"
  # A rebuilt image leaves the old one untagged: remove it unless a container still uses it.
  if [ -n "$previous" ] && [ "$previous" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
}

if $force || ! image_exists "$postgres_tag"; then
  dir="$work/postgres"
  echo "== $postgres_tag: postgresql-15 from $mirror"
  # Debian's package would create a cluster "main"; the entrypoint makes its own on first start.
  no_main_cluster() {
    mkdir -p "$1/etc/postgresql-common/createcluster.d"
    echo "create_main_cluster = false" >"$1/etc/postgresql-common/createcluster.d/no-main.conf"
  }
  prepare_rootfs "$dir" postgresql-15 no_main_cluster
  cat >"$dir/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# The official postgres image's contract, as far as tests use it.
set -eu
bin=/usr/lib/postgresql/15/bin
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"

case "${1:-}" in "" | -*) set -- postgres "$@" ;; esac
if [ "$1" != postgres ]; then exec "$@"; fi
shift

run=""
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 2775 /var/run/postgresql
  run="setpriv --reuid=postgres --regid=postgres --init-groups"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "Error: set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust)" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
  chmod 644 "$pwfile"
  $run "$bin/initdb" --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host="$auth" \
    --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
  rm -f "$pwfile"
  echo "host all all all $auth" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  # Like the official image: a first server on the Unix socket only, for the init steps.
  $run "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start
  if [ "$db" != postgres ]; then
    $run "$bin/psql" -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"$db\""
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) . "$f" ;;
      *.sql) $run "$bin/psql" -v ON_ERROR_STOP=1 -U "$user" -d "$db" -f "$f" ;;
    esac
  done
  $run "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop
  echo "PostgreSQL init process complete; ready for start up."
fi
exec $run "$bin/postgres" -D "$PGDATA" "$@"
EOF
  chmod 755 "$dir/usr/local/bin/docker-entrypoint.sh"
  mkdir -p "$dir/docker-entrypoint-initdb.d"
  import_rootfs "$dir" "$postgres_tag" \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --change 'EXPOSE 5432'
fi

if $force || ! image_exists "$nats_tag"; then
  dir="$work/nats"
  echo "== $nats_tag: nats-server from $mirror"
  prepare_rootfs "$dir" nats-server
  mkdir -p "$dir/etc/nats" "$dir/data"
  cat >"$dir/etc/nats/nats-server.conf" <<'EOF'
# The official image's defaults: clients on 4222, monitoring on 8222.
port: 4222
http_port: 8222
EOF
  cat >"$dir/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# Like the official nats image: the command is nats-server's arguments.
set -eu
case "${1:-}" in "" | -*) set -- nats-server "$@" ;; esac
exec "$@"
EOF
  chmod 755 "$dir/usr/local/bin/docker-entrypoint.sh"
  import_rootfs "$dir" "$nats_tag" \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["--config", "/etc/nats/nats-server.conf"]' \
    --change 'EXPOSE 4222 6222 8222'
fi

if $clean; then rm -rf "$work"; fi
docker image ls --filter reference='reactor-test/*'
