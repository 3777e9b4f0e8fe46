#!/usr/bin/env bash
# Builds the offline stand-ins for the base images devkube's Dockerfiles use, so the real-Docker tests can run
# where Docker Hub cannot be reached:
#
#   devkube-standin/node:22        for node:22-slim                                 (NODE_IMAGE)
#   devkube-standin/python:3.12    for python:3.12-slim                             (PYTHON_IMAGE)
#   devkube-standin/golang:1.19    for golang:1.23                                  (GO_IMAGE)
#   devkube-standin/runtime:latest for gcr.io/distroless/static-debian12:nonroot    (RUNTIME_IMAGE)
#   devkube-standin/nginx:latest   for nginxinc/nginx-unprivileged:1.27-alpine      (NGINX_IMAGE)
#   devkube-standin/postgres:16    for postgres:16   (backing service; PostgreSQL 15 from Debian)
#   devkube-standin/redis:7        for redis:7       (backing service)
#   devkube-standin/mariadb:11     for mariadb:11    (backing service; MariaDB 10.11 from Debian)
#
# One Debian rootfs made by debootstrap (from the Debian archive, which is reachable) backs every Debian-based tag;
# it is cached under ~/.cache/devkube-standin and imported once, and each tag is a small `docker build` on top of it,
# so the tags share one layer on disk. Each stand-in copies what the real image does that a Dockerfile can notice
# (users, working directory, listening port, where binaries live); the language versions are Debian's.
#
# Running it again is a no-op when every tag exists and was built by this version of the script. Two runs at once
# are safe: the second waits for the first (flock), then finds the tags built.
#
# Needs: docker (daemon running), and, the first time only, debootstrap and root (to make the rootfs).
# Env: DEVKUBE_STANDIN_CACHE (cache folder), DEVKUBE_STANDIN_MIRROR (Debian mirror), DEVKUBE_STANDIN_FORCE=1 (rebuild).
set -euo pipefail

script_path="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
repo_dir="$(cd "$(dirname "$script_path")/.." && pwd)"
cache_dir="${DEVKUBE_STANDIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devkube-standin}"
mirror="${DEVKUBE_STANDIN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm

# Everything the Debian-based stand-ins need, in one rootfs (one shared layer on disk), backing services and the
# registry included: Debian packages stand in for what PyPI (Django, FastAPI, uvicorn, drivers) and Docker Hub
# (postgres, redis, mariadb, registry) would give. libstdc++6 is for the Node binary; netbase gives
# /etc/services and /etc/protocols, which the official images have and Python's socket helpers read.
packages=ca-certificates,libstdc++6,netbase,python3,python3-pip,python3-flask,gunicorn,python-is-python3,nginx-light,golang-go,python3-django,python3-fastapi,python3-uvicorn,python3-starlette,python3-psycopg2,python3-redis,python3-pymysql,postgresql,redis-server,mariadb-server,docker-registry

tags=(devkube-standin/node:22 devkube-standin/python:3.12 devkube-standin/golang:1.19 devkube-standin/runtime:latest devkube-standin/nginx:latest devkube-standin/postgres:16 devkube-standin/redis:7 devkube-standin/mariadb:11 devkube-standin/registry:2)
recipe_label=devkube.standin.recipe

started_at=$(date +%s)
say() { printf 'standin-images: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

command -v docker >/dev/null || die "the docker CLI is not on PATH: install Docker and run this again."
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (docker info failed): start dockerd and run this again."

# The Node stand-in carries the project's own Node (the `node` devDependency) and an npm that runs on it.
node_bin="$repo_dir/node_modules/node/bin/node"
[[ -x "$node_bin" ]] || node_bin="$repo_dir/node_modules/.bin/node"
[[ -x "$node_bin" ]] || die "no Node binary at $repo_dir/node_modules/node/bin/node: run npm ci first."
node_version="$("$node_bin" --version)"

# The machine's npm is used when it is self-contained, as published npm bundles its dependencies (semver among
# them). Debian's npm is not: it finds most of them elsewhere under /usr/share/nodejs, so a copy of it fails in the
# image. Then npm 10 (what node:22 ships) is fetched from the npm registry once and cached.
npm_runs_on_node() {
  [[ -f "$1/bin/npm-cli.js" && -d "$1/node_modules/semver" ]] && "$node_bin" "$1/bin/npm-cli.js" --version >/dev/null 2>&1
}
npm_dir=""
npm_cli="$(readlink -f "$(command -v npm || true)" 2>/dev/null || true)"
for candidate in "$(npm root -g 2>/dev/null || true)/npm" "${npm_cli%/bin/npm-cli.js}" /usr/lib/node_modules/npm /usr/local/lib/node_modules/npm; do
  if npm_runs_on_node "$candidate"; then npm_dir="$candidate"; break; fi
done
if [[ -z "$npm_dir" ]]; then
  npm_dir="$cache_dir/npm-10"
  if ! npm_runs_on_node "$npm_dir"; then
    command -v npm >/dev/null || die "npm is not installed, and the Node stand-in needs one: install npm and run this again."
    say "fetching npm@10 for the Node stand-in (the machine's npm does not run on its own) ..."
    mkdir -p "$cache_dir"
    npm_download="$(mktemp -d "$cache_dir/npm-download.XXXXXX")"
    tarball="$(cd "$npm_download" && npm pack npm@10 --silent 2>/dev/null | tail -n1)"
    [[ -n "$tarball" && -f "$npm_download/$tarball" ]] || die "npm pack npm@10 failed: is the npm registry reachable?"
    mkdir -p "$npm_download/npm"
    tar -xzf "$npm_download/$tarball" -C "$npm_download/npm" --strip-components=1
    rm -rf "$npm_dir" && mv "$npm_download/npm" "$npm_dir"
    rm -rf "$npm_download"
    npm_runs_on_node "$npm_dir" || die "the npm fetched into $npm_dir does not run on $node_version."
  fi
fi
# node:22 also ships corepack (which fetches the pnpm and yarn a project pins); the `node` package carries only the
# binary, so corepack is fetched from the npm registry once and cached too.
corepack_dir="$cache_dir/corepack-0.34"
if [[ ! -f "$corepack_dir/dist/corepack.js" ]]; then
  command -v npm >/dev/null || die "npm is not installed, and the Node stand-in needs it to fetch corepack: install npm and run this again."
  say "fetching corepack@0.34 for the Node stand-in ..."
  mkdir -p "$cache_dir"
  corepack_download="$(mktemp -d "$cache_dir/corepack-download.XXXXXX")"
  tarball="$(cd "$corepack_download" && npm pack corepack@0.34 --silent 2>/dev/null | tail -n1)"
  [[ -n "$tarball" && -f "$corepack_download/$tarball" ]] || die "npm pack corepack@0.34 failed: is the npm registry reachable?"
  mkdir -p "$corepack_download/corepack"
  tar -xzf "$corepack_download/$tarball" -C "$corepack_download/corepack" --strip-components=1
  rm -rf "$corepack_dir" && mv "$corepack_download/corepack" "$corepack_dir"
  rm -rf "$corepack_download"
fi
npm_version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$npm_dir/package.json" | head -n1)"
ca_bundle=/etc/ssl/certs/ca-certificates.crt

# A tag is reused only if this very recipe (script, Node, npm, packages) built it.
recipe="$({ cat "$script_path"; echo "$node_version $npm_version $packages"; } | sha256sum | cut -c1-16)"
rootfs_key="$(echo "$suite $packages" | sha256sum | cut -c1-12)"
rootfs_dir="$cache_dir/rootfs-$suite-$rootfs_key"
base_tag="devkube-standin/base:$suite-$rootfs_key"

missing_tags() {
  local tag
  for tag in "${tags[@]}"; do
    if [[ "${DEVKUBE_STANDIN_FORCE:-}" == 1 ]] ||
      [[ "$(docker image inspect -f "{{index .Config.Labels \"$recipe_label\"}}" "$tag" 2>/dev/null)" != "$recipe" ]]; then
      echo "$tag"
    fi
  done
}

if [[ -z "$(missing_tags)" ]]; then
  say "reused all stand-in images (recipe $recipe): ${tags[*]} ($(elapsed "$started_at"))"
  exit 0
fi

mkdir -p "$cache_dir"
exec 9>"$cache_dir/lock"
if ! flock -n 9; then
  say "another build of the stand-in images is running; waiting for it ..."
  flock -w 1800 9 || die "waited 30 minutes for $cache_dir/lock: remove it if no build is running."
fi
# Another process may have built them while this one waited.
mapfile -t to_build < <(missing_tags)
if [[ ${#to_build[@]} -eq 0 ]]; then
  say "reused all stand-in images, built by another run meanwhile ($(elapsed "$started_at"))"
  exit 0
fi
say "building: ${to_build[*]}"

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/devkube-standin.XXXXXX")"
trap 'rm -rf "$work_dir"' EXIT

# --- the Debian rootfs (cached) --------------------------------------------------------------------------------
needs_debian=false
for tag in "${to_build[@]}"; do
  if [[ "$tag" != devkube-standin/runtime:* ]]; then needs_debian=true; fi
done

if $needs_debian && ! docker image inspect "$base_tag" >/dev/null 2>&1; then
  if [[ -d "$rootfs_dir" ]]; then
    say "reusing the cached Debian rootfs $rootfs_dir"
  else
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap), it makes the Debian rootfs."
    [[ $EUID -eq 0 ]] || die "making the Debian rootfs with debootstrap needs root: run 'sudo bash $script_path' once."
    step_at=$(date +%s)
    partial="$cache_dir/rootfs-partial-$$"
    rm -rf "$partial"
    say "debootstrap $suite (minbase + $packages) from $mirror; log: $cache_dir/debootstrap.log ..."
    if ! debootstrap --variant=minbase --include="$packages" "$suite" "$partial" "$mirror" >"$cache_dir/debootstrap.log" 2>&1; then
      tail -n 20 "$cache_dir/debootstrap.log" >&2
      rm -rf "$partial"
      die "debootstrap failed (full log: $cache_dir/debootstrap.log)."
    fi
    # What the slim official images leave out too: downloaded .debs, package lists, docs, translations.
    rm -rf "$partial"/var/cache/apt/archives/*.deb "$partial"/var/lib/apt/lists/* \
      "$partial"/usr/share/doc/* "$partial"/usr/share/man/* "$partial"/usr/share/locale/* "$partial"/usr/share/info/*
    # Only a complete rootfs gets the cache name, so an interrupted run never leaves a half-made one to reuse.
    mv "$partial" "$rootfs_dir"
    say "made the Debian rootfs in $(elapsed "$step_at")"
  fi
  step_at=$(date +%s)
  # Containers reach the npm registry through a TLS-intercepting proxy whose CA only the host's bundle holds.
  [[ -f "$ca_bundle" ]] && cp "$ca_bundle" "$rootfs_dir/etc/ssl/certs/ca-certificates.crt"
  tar -C "$rootfs_dir" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["bash"]' \
      - "$base_tag" >/dev/null
  say "imported the rootfs as $base_tag in $(elapsed "$step_at")"
fi

# --- one small build per tag --------------------------------------------------------------------------------------
build_tag() { # tag context_dir
  # Output only on failure: on success the classic builder's deprecation notice would be the only thing said.
  local output previous
  previous="$(docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true)"
  if ! output="$(docker build -q --label "$recipe_label=$recipe" --label devkube.standin=1 -t "$1" "$2" 2>&1)"; then
    printf '%s\n' "$output" >&2
    die "docker build of $1 failed (output above)."
  fi
  # The image an older recipe built is now untagged: drop it (kept if a container still uses it).
  if [[ -n "$previous" && "$previous" != "$(docker image inspect -f '{{.Id}}' "$1")" ]]; then
    docker image rm "$previous" >/dev/null 2>&1 || true
  fi
}

make_node() {
  local ctx="$work_dir/node"
  mkdir -p "$ctx"
  cp "$node_bin" "$ctx/node"
  cp -r "$npm_dir" "$ctx/npm"
  cp -r "$corepack_dir" "$ctx/corepack"
  cat >"$ctx/Dockerfile" <<EOF
FROM $base_tag
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY corepack /usr/local/lib/node_modules/corepack
# Laid out as in node:22-slim: npm/npx/corepack link to their CLIs, and a 'node' user (uid 1000) with a home.
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && ln -s ../lib/node_modules/corepack/dist/corepack.js /usr/local/bin/corepack \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
# Offline here: corepack must fetch yarn berry from the npm registry (not repo.yarnpkg.com), and the registry's
# metadata reaches containers without the signatures corepack checks, so its key check is off in this stand-in only.
ENV NODE_VERSION=${node_version#v} NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \\
    COREPACK_NPM_REGISTRY=https://registry.npmjs.org COREPACK_INTEGRITY_KEYS=0 COREPACK_ENABLE_DOWNLOAD_PROMPT=0
CMD ["node"]
EOF
  build_tag devkube-standin/node:22 "$ctx"
}

make_python() {
  local ctx="$work_dir/python"
  mkdir -p "$ctx"
  # Flask and gunicorn come from Debian; pip may "install" them over the system packages (PyPI is unreachable, so
  # already-satisfied requirements must not need it) and must not stall on its self-update check.
  cat >"$ctx/Dockerfile" <<EOF
FROM $base_tag
ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PYTHONUNBUFFERED=1
CMD ["python3"]
EOF
  build_tag devkube-standin/python:3.12 "$ctx"
}

make_golang() {
  local ctx="$work_dir/golang"
  mkdir -p "$ctx"
  # GOPROXY=off: module downloads cannot work offline, so fail at once instead of timing out.
  cat >"$ctx/Dockerfile" <<EOF
FROM $base_tag
ENV GOPATH=/go PATH=/go/bin:/usr/lib/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY=off GOSUMDB=off
RUN mkdir -p /go/src /go/bin && chmod -R 1777 /go
WORKDIR /go
EOF
  build_tag devkube-standin/golang:1.19 "$ctx"
}

make_nginx() {
  local ctx="$work_dir/nginx"
  mkdir -p "$ctx"
  # As nginx-unprivileged: runs as uid 101, listens on 8080, keeps pid and temp files in /tmp, logs to stdout/err.
  cat >"$ctx/nginx.conf" <<'EOF'
worker_processes auto;
error_log /var/log/nginx/error.log notice;
pid /tmp/nginx.pid;

events {
    worker_connections 1024;
}

http {
    proxy_temp_path /tmp/proxy_temp;
    client_body_temp_path /tmp/client_temp;
    fastcgi_temp_path /tmp/fastcgi_temp;
    uwsgi_temp_path /tmp/uwsgi_temp;
    scgi_temp_path /tmp/scgi_temp;

    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /var/log/nginx/access.log;
    sendfile on;
    keepalive_timeout 65;

    include /etc/nginx/conf.d/*.conf;
}
EOF
  cat >"$ctx/default.conf" <<'EOF'
server {
    listen       8080;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }
}
EOF
  cat >"$ctx/Dockerfile" <<EOF
FROM $base_tag
COPY nginx.conf /etc/nginx/nginx.conf
COPY default.conf /etc/nginx/conf.d/default.conf
# The shared rootfs's service packages (mysql, docker-registry) took uid/gid 101, which nginx-unprivileged's
# nginx user has: this image has no use for them, so they give way.
RUN rm -f /etc/nginx/sites-enabled/* \\
 && for user in \$(awk -F: '\$3 == 101 || \$4 == 101 {print \$1}' /etc/passwd); do userdel "\$user"; done \\
 && for group in \$(awk -F: '\$3 == 101 {print \$1}' /etc/group); do groupdel "\$group"; done \\
 && groupadd --system --gid 101 nginx \\
 && useradd --system --uid 101 --gid nginx --home-dir /nonexistent --shell /usr/sbin/nologin nginx \\
 && mkdir -p /var/cache/nginx /usr/share/nginx/html \\
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log \\
 && chown -R 101:0 /var/cache/nginx /etc/nginx/conf.d /usr/share/nginx/html \\
 && chmod -R g+w /var/cache/nginx /etc/nginx/conf.d
EXPOSE 8080
STOPSIGNAL SIGQUIT
USER 101
CMD ["nginx", "-g", "daemon off;"]
EOF
  build_tag devkube-standin/nginx:latest "$ctx"
}

make_runtime() {
  local ctx="$work_dir/runtime"
  mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/rootfs/home/nonroot" "$ctx/rootfs/tmp"
  # As distroless/static:nonroot: no shell, no libc (so a Go binary must be static), users root/nobody/nonroot,
  # CA certificates, and it runs as nonroot (65532) in /home/nonroot.
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$ctx/rootfs/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
  printf 'hosts: files dns\n' >"$ctx/rootfs/etc/nsswitch.conf"
  [[ -f "$ca_bundle" ]] && cp "$ca_bundle" "$ctx/rootfs/etc/ssl/certs/ca-certificates.crt"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
COPY --chown=65532:65532 rootfs/home/nonroot /home/nonroot
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532
WORKDIR /home/nonroot
EOF
  build_tag devkube-standin/runtime:latest "$ctx"
}

# The backing-service stand-ins run Debian's server packages behind an entrypoint that does what the official
# image's docker-entrypoint.sh does for what devkube relies on: the same env variables, initialisation on an empty
# data folder (then never again), listening on 0.0.0.0, and the server running as its own user (the entrypoint
# starts as root, fixes the data folder's owner and drops privileges, as the official ones do with gosu).
make_postgres() {
  local ctx="$work_dir/postgres"
  mkdir -p "$ctx"
  cat >"$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/bash
# As postgres:16's entrypoint: POSTGRES_PASSWORD (required), POSTGRES_USER (default postgres), POSTGRES_DB (default
# the user), PGDATA; initdb + CREATE DATABASE on the first start with a server on the Unix socket only.
set -Eeuo pipefail
if [[ "${1:0:1}" == - ]]; then set -- postgres "$@"; fi
if [[ "$1" != postgres ]]; then exec "$@"; fi
if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    echo 'Error: Database is uninitialized and superuser password is not specified.' >&2
    echo '       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.' >&2
    exit 1
  fi
  user="${POSTGRES_USER:-postgres}"
  database="${POSTGRES_DB:-$user}"
  initdb --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") -D "$PGDATA"
  printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
  if [[ "$database" != postgres ]]; then
    psql -v ON_ERROR_STOP=1 --username "$user" --no-password --dbname postgres --set db="$database" <<<'CREATE DATABASE :"db" ;'
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo 'PostgreSQL init process complete; ready for start up.'
fi
exec "$@"
EOF
  # listen_addresses='*' in the sample config, as the official image does, so initdb writes it.
  cat >"$ctx/Dockerfile" <<EOF
FROM $base_tag
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh \\
 && sed -ri "s!^#?(listen_addresses)\\s*=\\s*\\S+.*!\\1 = '*'!" /usr/share/postgresql/15/postgresql.conf.sample \\
 && mkdir -p /var/lib/postgresql/data && chown postgres:postgres /var/lib/postgresql/data && chmod 1777 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PGDATA=/var/lib/postgresql/data
VOLUME /var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
EOF
  build_tag devkube-standin/postgres:16 "$ctx"
}

make_redis() {
  local ctx="$work_dir/redis"
  mkdir -p "$ctx"
  cat >"$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
# As redis:7's entrypoint: options alone mean redis-server; it runs as redis in /data. The official build turns
# protected mode off by default; Debian's binary keeps it on, so it is switched off here (a later argument wins).
set -e
case "$1" in -*) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
if [ "$1" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
EOF
  cat >"$ctx/Dockerfile" <<EOF
FROM $base_tag
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh && mkdir /data && chown redis:redis /data
VOLUME /data
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
  build_tag devkube-standin/redis:7 "$ctx"
}

make_mariadb() {
  local ctx="$work_dir/mariadb"
  mkdir -p "$ctx"
  cat >"$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/bash
# As mariadb:11's entrypoint: MARIADB_ROOT_PASSWORD, MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD (or their
# MYSQL_* names); on an empty data folder: install the system tables, then set the passwords, the database and the
# user through a server without networking, so nothing can connect before that is done.
set -Eeuo pipefail
if [[ "${1:0:1}" == - ]]; then set -- mariadbd "$@"; fi
if [[ "$1" != mariadbd && "$1" != mysqld ]]; then exec "$@"; fi
if [[ "$(id -u)" == 0 ]]; then
  mkdir -p /var/lib/mysql /run/mysqld
  chown -R mysql:mysql /var/lib/mysql /run/mysqld
  exec setpriv --reuid=mysql --regid=mysql --init-groups "$BASH_SOURCE" "$@"
fi
env_of() { local name="MARIADB_$1" legacy="MYSQL_$1"; printf '%s' "${!name:-${!legacy:-}}"; }
sql_string() { local value="${1//\\/\\\\}"; printf "'%s'" "${value//\'/\\\'}"; }
if [[ ! -d /var/lib/mysql/mysql ]]; then
  root_password="$(env_of ROOT_PASSWORD)"
  if [[ -z "$root_password" ]]; then
    echo 'error: Database is uninitialized and password option is not specified' >&2
    echo '	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD' >&2
    exit 1
  fi
  database="$(env_of DATABASE)" user="$(env_of USER)" password="$(env_of PASSWORD)"
  mariadb-install-db --datadir=/var/lib/mysql --skip-test-db --auth-root-authentication-method=normal >/dev/null
  mariadbd --skip-networking --socket=/run/mysqld/mysqld.sock &
  for _ in $(seq 60); do mariadb --protocol=socket -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
  {
    # mariadb-install-db also makes password-less root@127.0.0.1, root@::1 and root@<hostname>: dropped, as the
    # official entrypoint does, so root logs in with the password from anywhere.
    echo "DROP USER IF EXISTS root@'127.0.0.1', root@'::1';"
    echo "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname, '\\'');"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$root_password");"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $(sql_string "$root_password");"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [[ -n "$database" ]]; then echo "CREATE DATABASE IF NOT EXISTS \`$database\`;"; fi
    if [[ -n "$user" && -n "$password" ]]; then
      echo "CREATE USER $(sql_string "$user")@'%' IDENTIFIED BY $(sql_string "$password");"
      if [[ -n "$database" ]]; then echo "GRANT ALL ON \`$database\`.* TO $(sql_string "$user")@'%';"; fi
    fi
  } | mariadb --protocol=socket -uroot
  mariadb-admin --protocol=socket -uroot --password="$root_password" shutdown
  wait
  echo 'MariaDB init process done. Ready for start up.'
fi
exec "$@"
EOF
  # The official image listens on every address and does not resolve client host names (conf.d/docker.cnf).
  cat >"$ctx/docker.cnf" <<'EOF'
[mariadbd]
bind-address = 0.0.0.0
skip-name-resolve
host-cache-size = 0
EOF
  cat >"$ctx/Dockerfile" <<EOF
FROM $base_tag
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY docker.cnf /etc/mysql/mariadb.conf.d/99-docker.cnf
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh \\
 && rm -rf /var/lib/mysql && mkdir -p /var/lib/mysql /run/mysqld && chown mysql:mysql /var/lib/mysql /run/mysqld
VOLUME /var/lib/mysql
EXPOSE 3306
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["mariadbd"]
EOF
  build_tag devkube-standin/mariadb:11 "$ctx"
}

# registry:2 (what kind's "Local Registry" guide runs): Debian's docker-registry is the same distribution/distribution
# server. As the official image: config at /etc/docker/registry/config.yml, storage in the /var/lib/registry volume,
# plain HTTP on :5000, `registry serve` as the entrypoint.
make_registry() {
  local ctx="$work_dir/registry"
  mkdir -p "$ctx"
  cat >"$ctx/config.yml" <<'EOF'
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  cat >"$ctx/Dockerfile" <<EOF
FROM $base_tag
COPY config.yml /etc/docker/registry/config.yml
RUN mkdir -p /var/lib/registry
VOLUME /var/lib/registry
EXPOSE 5000
ENTRYPOINT ["docker-registry", "serve"]
CMD ["/etc/docker/registry/config.yml"]
EOF
  build_tag devkube-standin/registry:2 "$ctx"
}

# Quick proof that each stand-in runs its tool (and, for Python, that an offline pip install of the example's
# requirements succeeds).
check_tag() {
  case "$1" in
    devkube-standin/node:*)
      docker run --rm "$1" sh -c 'node --version && npm --version && corepack --version && id node' ;;
    devkube-standin/python:*)
      docker run --rm "$1" sh -c 'python --version && gunicorn --version && printf "flask\ngunicorn\n" >/tmp/requirements.txt \
        && pip install --no-cache-dir -q -r /tmp/requirements.txt && python -c "import flask; print(\"flask\", flask.__version__)"' ;;
    devkube-standin/golang:*)
      docker run --rm "$1" sh -c 'go version && go env GOTOOLCHAIN GOFLAGS GOPROXY' ;;
    devkube-standin/nginx:*)
      docker run --rm "$1" nginx -t 2>&1 | tail -n1 ;;
    devkube-standin/runtime:*)
      [[ "$(docker image inspect -f '{{.Config.User}}' "$1")" == 65532 ]] && echo "runs as 65532" ;;
    devkube-standin/postgres:*)
      docker run --rm --entrypoint sh "$1" -c 'postgres --version && pg_isready --version' ;;
    devkube-standin/redis:*)
      docker run --rm --entrypoint sh "$1" -c 'redis-server --version && redis-cli --version' ;;
    devkube-standin/mariadb:*)
      docker run --rm --entrypoint sh "$1" -c 'mariadbd --version && mariadb-admin --version' ;;
    devkube-standin/registry:*)
      docker run --rm --entrypoint sh "$1" -c 'docker-registry --version' ;;
  esac
}

built=()
for tag in "${to_build[@]}"; do
  step_at=$(date +%s)
  case "$tag" in
    devkube-standin/node:*) make_node ;;
    devkube-standin/python:*) make_python ;;
    devkube-standin/golang:*) make_golang ;;
    devkube-standin/nginx:*) make_nginx ;;
    devkube-standin/runtime:*) make_runtime ;;
    devkube-standin/postgres:*) make_postgres ;;
    devkube-standin/redis:*) make_redis ;;
    devkube-standin/mariadb:*) make_mariadb ;;
    devkube-standin/registry:*) make_registry ;;
  esac
  if ! check_output="$(check_tag "$tag" 2>&1)"; then
    printf '%s\n' "$check_output" >&2
    docker image rm -f "$tag" >/dev/null 2>&1 || true
    die "$tag was built but does not run its tool (output above)."
  fi
  say "built $tag in $(elapsed "$step_at"): $(printf '%s' "$check_output" | tr '\n' ' ')"
  built+=("$tag")
done

reused=()
for tag in "${tags[@]}"; do [[ " ${built[*]} " == *" $tag "* ]] || reused+=("$tag"); done
say "built ${#built[@]} stand-in image(s), reused ${#reused[@]}${reused[*]:+ (${reused[*]})}; total $(elapsed "$started_at")"
