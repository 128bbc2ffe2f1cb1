#!/usr/bin/env bash
# Makes sure the PostgreSQL (127.0.0.1:5432, trust auth, database `test`) and Redis
# (127.0.0.1:6379) that the test suites use are running, starting them when they are not.
# Fails loudly when it cannot: the suites are never skipped on CI.
set -euo pipefail

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "services: $what did not come up" >&2
  return 1
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "services: starting PostgreSQL"
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || { echo "services: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
fi
if ! psql -h 127.0.0.1 -d test -Atc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -d postgres -c 'CREATE DATABASE test' >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  echo "services: starting Redis"
  command -v redis-server >/dev/null || { echo "services: Redis is not installed (apt-get install redis-server)" >&2; exit 1; }
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
fi
echo "services: PostgreSQL and Redis are up"
