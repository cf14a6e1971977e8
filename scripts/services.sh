#!/bin/sh
# Start the local PostgreSQL (127.0.0.1:5432) and Redis (6379) the tests use, when installed and down.
# Exit status 1 when a service is still unreachable afterwards.
status=0

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if command -v pg_isready >/dev/null 2>&1; then
  if ! pg_up; then
    echo "starting PostgreSQL"
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
      for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true; done
    fi
    i=0; while ! pg_up && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done
  fi
  pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432"; status=1; }
else
  echo "pg_isready not found: PostgreSQL tests will be skipped unless MILAI_REQUIRE_POSTGRES=1"; status=1
fi

if command -v redis-cli >/dev/null 2>&1; then
  if ! redis_up; then
    echo "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log 2>/dev/null \
      || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
    i=0; while ! redis_up && [ $i -lt 15 ]; do sleep 1; i=$((i+1)); done
  fi
  redis_up || { echo "Redis is not reachable on 127.0.0.1:6379"; status=1; }
else
  echo "redis-cli not found: Redis tests will be skipped unless MILAI_REQUIRE_REDIS=1"; status=1
fi
exit $status
