#!/bin/sh
# Render Redis's ACL file:  render-acl.sh OUT_DIR
#
# Run by the redis pod's init container (bases/redis/statefulset.yaml) into a memory-backed emptyDir,
# and by tests/deploy/test_redis_acl.py against a real redis-server, so what the test proves is what
# the pod runs. POSIX sh (the redis image's busybox; dash/bash locally).
#
# Writes OUT_DIR/users.acl (read by `aclfile` in redis.conf), OUT_DIR/monitor.password and
# OUT_DIR/exporter-passwords.json (the in-pod `monitor` user of the readiness probe and the metrics
# exporter: a fresh random password each pod start, never in the Secret).
#
# Environment (deploy/README.md, "Secrets"):
#   REDIS_GATEWAY_PASSWORD   Secret key redis-gateway-password (required)
#   REDIS_PROFILE_PASSWORD   Secret key redis-profile-password (required)
#   REDIS_ADMIN_PASSWORD     Secret key redis-admin-password (optional; unset = no admin user)
#   PROFILE_KEY_PREFIX       the profile tier's key prefix (the worker ConfigMap's value)
#   PROFILE_EVENTS_QUEUE     the review-event queue (the worker ConfigMap's value)
#
# Passwords: at least 32 characters of A-Z a-z 0-9 . _ ~ - (they are written into redis:// URLs
# unescaped), e.g. `openssl rand -hex 32`. Only their SHA-256 goes into the ACL file.
#
# Users (the key patterns are read off the code; tests/deploy/test_redis_acl.py checks them against
# the keys the code builds and against a real worker, publisher and `celery inspect ping`):
#   default   off: a connection that does not AUTH can run nothing.
#   gateway   the gateway's own keys (movierec:gw:*, fixed in services/gateway), the chat turn stream,
#             the pending ledger it records events in, and the publishing side of the Celery queue.
#   profile   the profile server and the Celery worker (its sweeper too): the profile tier's key
#             families under PROFILE_KEY_PREFIX (not the gateway's movierec:gw:*, which hold the
#             password hashes), the queue with kombu's priority lists, kombu's bindings and
#             unacked/visibility keys, and the remote-control pidbox behind the worker's liveness probe.
#   monitor   read-only metrics (INFO, CONFIG GET, SLOWLOG, LATENCY) and the lengths of the keys the
#             exporter watches; also the redis container's readiness PING.
#   admin     every command (operators' maintenance), only when REDIS_ADMIN_PASSWORD is set.
# No user but admin may run @dangerous commands (FLUSHALL, CONFIG SET, KEYS, DEBUG, ACL, ...).
set -eu

fail() {
  echo "render-acl: $*" >&2
  exit 1
}

[ "$#" -eq 1 ] || fail "usage: render-acl.sh OUT_DIR"
out=$1
[ -d "${out}" ] || fail "${out} is not a directory"

check_password() {  # name secret-key value
  [ -n "$3" ] || fail "$1 is empty: set the Secret key $2 (deploy/README.md, Secrets)"
  [ "${#3}" -ge 32 ] || fail "$1 (Secret key $2) must be at least 32 characters"
  case "$3" in
    *[!A-Za-z0-9._~-]*) fail "$1 (Secret key $2) may contain only A-Z a-z 0-9 . _ ~ - (it goes into a redis:// URL); use openssl rand -hex 32" ;;
  esac
}

check_name() {  # name value allowed-extra-description
  [ -n "$2" ] || fail "$1 is empty"
  case "$2" in
    *[!A-Za-z0-9:._-]*) fail "$1='$2' may contain only A-Z a-z 0-9 : . _ - (it becomes an ACL key pattern)" ;;
  esac
}

sha() {
  printf '%s' "$1" | sha256sum | cut -d ' ' -f 1
}

gateway_password=${REDIS_GATEWAY_PASSWORD:-}
profile_password=${REDIS_PROFILE_PASSWORD:-}
admin_password=${REDIS_ADMIN_PASSWORD:-}
prefix=${PROFILE_KEY_PREFIX:-}
queue=${PROFILE_EVENTS_QUEUE:-}
check_password REDIS_GATEWAY_PASSWORD redis-gateway-password "${gateway_password}"
check_password REDIS_PROFILE_PASSWORD redis-profile-password "${profile_password}"
[ "${gateway_password}" != "${profile_password}" ] || fail "redis-gateway-password and redis-profile-password must differ"
if [ -n "${admin_password}" ]; then
  check_password REDIS_ADMIN_PASSWORD redis-admin-password "${admin_password}"
fi
check_name PROFILE_KEY_PREFIX "${prefix}"
check_name PROFILE_EVENTS_QUEUE "${queue}"
case "${prefix}" in
  movierec:gw:*) fail "PROFILE_KEY_PREFIX='${prefix}' lies inside the gateway's own keys (movierec:gw:)" ;;
esac

monitor_password=$(head -c 48 /dev/urandom | sha256sum | cut -d ' ' -f 1)

# Commands of an application user: data commands, transactions and Lua scripts (EVAL/EVALSHA and
# SCRIPT LOAD, as redis-py's register_script and kombu's lock use them), nothing @dangerous or @admin.
app_commands="-@all +@connection +@read +@write +@transaction +time +eval +evalsha +eval_ro +evalsha_ro +script|load +script|exists -@dangerous -@admin"

# The profile tier's key families (libs/movierec_profile_contract ProfileKeys), each also covering
# its sub-keys (deadletter:ids, pending:due, ...). replay: is movierec_jobs.replay's default target.
profile_keys=""
for family in profile applied ratings steps watchlist watched taste-history batch-block interactions turns deadletter stats pending replay:; do
  profile_keys="${profile_keys} ~${prefix}${family}*"
done

umask 077
tmp="${out}/users.acl.tmp"
{
  echo "user default off resetpass resetkeys resetchannels -@all"
  # SCAN and RANDOMKEY list key names outside the user's patterns; the gateway never needs them.
  echo "user gateway on #$(sha "${gateway_password}") resetkeys resetchannels ~movierec:gw:* ~${prefix}pending ~${prefix}pending:due ~${queue}* ~_kombu.binding.${queue} ~_kombu.binding_permanent.${queue} ${app_commands} -scan -randomkey"
  # The worker's liveness probe (`celery inspect ping`) publishes on the pidbox channel and reads its
  # reply from a <uuid>.reply.celery.pidbox list; the worker subscribes to that channel.
  echo "user profile on #$(sha "${profile_password}") resetkeys resetchannels${profile_keys} ~${queue}* ~_kombu.* ~unacked ~unacked_index ~unacked_mutex ~profile-worker-*.celery.pidbox* ~*.reply.celery.pidbox* &/0.celery.pidbox ${app_commands} +@pubsub -randomkey"
  echo "user monitor on #$(sha "${monitor_password}") resetkeys resetchannels %R~${queue} %R~${prefix}deadletter %R~${prefix}deadletter:count %R~${prefix}pending -@all +ping +select +client|setname +info +config|get +slowlog|len +slowlog|get +latency|latest +latency|histogram +type +strlen +llen +scard +zcard +hlen +xlen +pfcount +get"
  if [ -n "${admin_password}" ]; then
    echo "user admin on #$(sha "${admin_password}") ~* &* +@all"
  fi
} > "${tmp}"
mv "${tmp}" "${out}/users.acl"
printf '%s' "${monitor_password}" > "${out}/monitor.password"
printf '{"redis://127.0.0.1:6379": "%s"}\n' "${monitor_password}" > "${out}/exporter-passwords.json"
echo "render-acl: wrote ${out}/users.acl (users default[off] gateway profile monitor$([ -n "${admin_password}" ] && echo ' admin'))"
