#!/usr/bin/env bash
# hack/local-up.sh: a local Corral on this machine, in one command.
#
#   hack/local-up.sh [start]      install deps, build, start etcd, mesoslite,
#                                 nginx (the load balancer), corrald,
#                                 corral-nodeagent; apply the examples
#   hack/local-up.sh status       what runs, and why anything stopped
#   hack/local-up.sh stop [--wipe] stop everything (--wipe also deletes data)
#
# Options (start): --dir DIR (state, default .local/), --agents N (3),
#   --racks r1,r2, --api-port P (7099), --etcd-port P (23790),
#   --mesos-port P (25050), --real-mesos URL (no mesoslite), --no-examples,
#   --no-build. Everything listens on 127.0.0.1 only, the API with auth on
#   (an admin token in DIR/auth/tokens; corralctl set up in DIR/corralctl.conf).
#   Safe to run twice.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

cmd=start
case "${1:-}" in start|stop|status|help|-h|--help) cmd=${1#--}; shift;; esac
[ "$cmd" = "h" ] && cmd=help

DIR=${CORRAL_LOCAL_DIR:-$ROOT/.local}
AGENTS=3 RACKS=r1,r2 API_PORT=7099 ETCD_PORT=23790 MESOS_PORT=25050
REAL_MESOS="" EXAMPLES=1 BUILD=1 WIPE=0
while [ $# -gt 0 ]; do
  case $1 in
    --dir) DIR=$2; shift 2;;
    --agents) AGENTS=$2; shift 2;;
    --racks) RACKS=$2; shift 2;;
    --api-port) API_PORT=$2; shift 2;;
    --etcd-port) ETCD_PORT=$2; shift 2;;
    --mesos-port) MESOS_PORT=$2; shift 2;;
    --real-mesos) REAL_MESOS=$2; shift 2;;
    --no-examples) EXAMPLES=0; shift;;
    --no-build) BUILD=0; shift;;
    --wipe) WIPE=1; shift;;
    -h|--help) cmd=help; shift;;
    *) echo "local-up: unknown option '$1' (try --help)" >&2; exit 2;;
  esac
done
if [ "$cmd" = help ]; then sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi

mkdir -p "$DIR/logs" "$DIR/run"
DIR=$(cd "$DIR" && pwd)
PORTS=$DIR/run/ports.env
COMPONENTS=(etcd mesoslite nginx corrald corral-nodeagent)

pidfile() { echo "$DIR/run/$1.pid"; }
running() { local f; f=$(pidfile "$1"); [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() { # pick_port NAME DEFAULT: reuse the saved port, else DEFAULT, else a free one
  local name=$1 port=$2 saved
  saved=$(sed -n "s/^$name=//p" "$PORTS" 2>/dev/null || true)
  [ -n "$saved" ] && port=$saved
  if ! running "${3:-none}" && port_busy "$port"; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  fi
  echo "$port"
}
wait_http() { # wait_http URL SECONDS NAME
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
    running "$3" || { echo "local-up: $3 exited; last lines of $DIR/logs/$3.log:" >&2
                      tail -n 20 "$DIR/logs/$3.log" >&2; return 1; }
    sleep 0.1
  done
  echo "local-up: $3 did not answer at $1 within $2 s (log: $DIR/logs/$3.log)" >&2
  return 1
}
launch() { # launch NAME ARGV...: start in its own session, log and pid under $DIR
  local name=$1; shift
  if running "$name"; then return 0; fi
  setsid "$@" >>"$DIR/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$(pidfile "$name")"
}

stop_all() {
  local c pid i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    c=${COMPONENTS[$i]}
    running "$c" || { rm -f "$(pidfile "$c")"; continue; }
    pid=$(cat "$(pidfile "$c")")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$(pidfile "$c")"
    echo "stopped $c"
  done
  if [ "$WIPE" = 1 ]; then rm -rf "$DIR"; echo "wiped $DIR"; fi
}

status() {
  local c ok=0
  [ -f "$PORTS" ] && . "$PORTS"
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then echo "  $c: running (pid $(cat "$(pidfile "$c")"))"
    elif [ -f "$(pidfile "$c")" ]; then
      ok=1; echo "  $c: DIED; last lines of $DIR/logs/$c.log:"; tail -n 5 "$DIR/logs/$c.log" | sed 's/^/      /'
    fi
  done
  return $ok
}

case $cmd in
  stop) stop_all; exit 0;;
  status) status; exit $?;;
esac

# --- start ----------------------------------------------------------------
CORRAL_DEPS_NO_NPM=1 hack/deps.sh
if [ "$BUILD" = 1 ]; then make -s -j"$(nproc 2>/dev/null || echo 2)" all; fi

ETCD_PORT=$(pick_port ETCD_PORT "$ETCD_PORT" etcd)
ETCD_PEER=$(pick_port ETCD_PEER $((ETCD_PORT + 1)) etcd)
API_PORT=$(pick_port API_PORT "$API_PORT" corrald)
NODEAGENT_PORT=$(pick_port NODEAGENT_PORT 7100 corral-nodeagent)
LB_PORT=$(pick_port LB_PORT 7180 nginx)
if [ -z "$REAL_MESOS" ]; then
  MESOS_PORT=$(pick_port MESOS_PORT "$MESOS_PORT" mesoslite)
  MESOS_URL=http://127.0.0.1:$MESOS_PORT
else
  MESOS_URL=$REAL_MESOS
fi
ETCD_URL=http://127.0.0.1:$ETCD_PORT
API_URL=http://127.0.0.1:$API_PORT
printf 'ETCD_PORT=%s\nETCD_PEER=%s\nAPI_PORT=%s\nMESOS_PORT=%s\nMESOS_URL=%s\nAPI_URL=%s\nETCD_URL=%s\nNODEAGENT_PORT=%s\n' \
  "$ETCD_PORT" "$ETCD_PEER" "$API_PORT" "${MESOS_PORT:-}" "$MESOS_URL" "$API_URL" "$ETCD_URL" \
  "$NODEAGENT_PORT" > "$PORTS"
printf 'LB_PORT=%s\n' "$LB_PORT" >> "$PORTS"

launch etcd etcd --name corral-local --data-dir "$DIR/etcd" \
  --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "corral-local=http://127.0.0.1:$ETCD_PEER" --log-level warn --logger zap
wait_http "$ETCD_URL/health" 30 etcd

if [ -z "$REAL_MESOS" ]; then
  launch mesoslite "$ROOT/bin/mesoslite" --listen "127.0.0.1:$MESOS_PORT" --agents "$AGENTS" \
    --racks "$RACKS" --work-dir "$DIR/mesos"
  wait_http "$MESOS_URL/master/state" 30 mesoslite
fi

# The load balancer of load-balanced requests (docs/loadbalancing.md): a
# real nginx on a loopback port, run as this user with its config, pid and
# logs under $DIR/nginx; corrald writes its upstreams and locations into
# $DIR/nginx/lb and reloads it. The example hello-lb is served at /hello-lb/.
NGINX_DIR=$DIR/nginx
mkdir -p "$NGINX_DIR/tmp" "$NGINX_DIR/lb/upstreams" "$NGINX_DIR/lb/locations/web"
nginx_user=""
[ "$(id -u)" -eq 0 ] && nginx_user="user $(id -un);"   # workers stay this user
cat > "$NGINX_DIR/nginx.conf" <<NGINX
# written by hack/local-up.sh; corrald manages the files in lb/
$nginx_user
worker_processes 1;
daemon off;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log notice;
events { worker_connections 512; }
http {
    access_log $NGINX_DIR/access.log;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    include $NGINX_DIR/lb/upstreams/*.conf;
    server {
        listen 127.0.0.1:$LB_PORT;
        location = /nginx-health { return 200 "ok"; }
        include $NGINX_DIR/lb/locations/web/*.conf;
    }
}
NGINX
launch nginx /usr/sbin/nginx -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/stderr.log"
wait_http "http://127.0.0.1:$LB_PORT/nginx-health" 30 nginx

# Auth on, as in production: an admin token in a mode-600 token file (made
# once, kept across restarts), and corralctl configured with it.
mkdir -p "$DIR/auth" && chmod 700 "$DIR/auth"
TOKENS=$DIR/auth/tokens
if [ ! -s "$TOKENS" ]; then
  (umask 077; printf '# <token> <user> [groups]: bootstrap tokens for corrald --auth-token-file\n%s admin admins\n' \
    "crl_$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" > "$TOKENS")
fi
ADMIN_TOKEN=$(awk '$2 == "admin" {print $1; exit}' "$TOKENS")
# The node agent's own token, user nodeagent. Its calls to corrald are task
# lookups (GET /api/tasks/task/{id}, tasks of every request) and the OOM
# kill notes (PUT /api/nodeagent/tasks/{id}; upload records too when S3 is
# on), admin-only routes (apiserver/as_route.c): so group admins, but a user
# of its own, told apart in history and revocable alone. The node agent
# takes the first word of its --token-file, so that file holds the token
# alone (mode 600). A token file from an older run gets the line added.
if ! awk '$2 == "nodeagent" {found = 1} END {exit !found}' "$TOKENS"; then
  (umask 077; printf '%s nodeagent admins\n' \
    "crl_$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >> "$TOKENS")
  if running corrald; then kill -HUP "$(cat "$(pidfile corrald)")"; fi  # re-reads the file
fi
NODEAGENT_TOKEN=$DIR/auth/nodeagent.token
(umask 077; awk '$2 == "nodeagent" {print $1; exit}' "$TOKENS" > "$NODEAGENT_TOKEN")
CTL_CONFIG=$DIR/corralctl.conf
CORRAL_CONFIG=$CTL_CONFIG "$ROOT/bin/corralctl" config set server "$API_URL"
CORRAL_CONFIG=$CTL_CONFIG "$ROOT/bin/corralctl" config set token "$ADMIN_TOKEN"

CORRAL_NODEAGENT_PORT=$NODEAGENT_PORT launch corrald "$ROOT/bin/corrald" --listen "127.0.0.1:$API_PORT" --etcd-endpoints "$ETCD_URL" \
  --mesos-master "$MESOS_URL" --prefix /corral --auth --auth-token-file "$TOKENS" \
  --data-dir "$DIR/corrald" \
  --lb-provider nginx --lb-nginx-dir "$NGINX_DIR/lb" --lb-nginx-conf "$NGINX_DIR/nginx.conf"
wait_http "$API_URL/healthz" 30 corrald

# The node agent of mesoslite's agents (they share this host and work dir):
# log follow streams for corralctl logs -f and the UI, the OOM killer, the
# cleanup of sandboxes Corral does not know (docs/nodeagent.md). Started
# once corrald answers, so its first scan can ask it (it retries a failed
# call on its next check anyway). With a real Mesos, run one on each agent
# host (manifests/deploy/).
if [ -z "$REAL_MESOS" ]; then
  launch corral-nodeagent "$ROOT/bin/corral-nodeagent" --work-dir "$DIR/mesos" \
    --listen "127.0.0.1:$NODEAGENT_PORT" --corrald "$API_URL" --token-file "$NODEAGENT_TOKEN"
  wait_http "http://127.0.0.1:$NODEAGENT_PORT/healthz" 30 corral-nodeagent
fi

applied="skipped (--no-examples)"
if [ "$EXAMPLES" = 1 ]; then
  if CORRAL_CONFIG=$CTL_CONFIG "$ROOT/bin/corralctl" apply -f "$ROOT/manifests/examples" >"$DIR/logs/apply.log" 2>&1; then
    applied="applied manifests/examples (see $DIR/logs/apply.log)"
  else
    applied="FAILED to apply manifests/examples; see $DIR/logs/apply.log"
  fi
fi

# The UI, and a one-time link that logs a browser in as admin (the code is
# in the URL's fragment, which browsers never send to a server; it works
# once, within 5 minutes: hack/local-up.sh prints a new one each run).
ui="$API_URL/ui/"
login=$(curl -fsS --max-time 5 -X POST -H "Authorization: Bearer $ADMIN_TOKEN" \
          "$API_URL/api/auth/login-codes" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["loginPath"])' 2>/dev/null || true)
if [ -n "$login" ]; then
  ui_login="$API_URL$login   (one-time, 5 minutes; or paste the admin token)"
else
  ui_login="(no login link: paste the admin token on the login page)"
fi
cat <<MSG

Corral is running locally.
  API:        $API_URL/api
  UI:         $ui
  UI login:   $ui_login
  etcd:       $ETCD_URL   (prefix /corral; try: ETCDCTL_API=3 etcdctl --endpoints $ETCD_URL get /corral --prefix --keys-only)
  Mesos:      $MESOS_URL   ($([ -z "$REAL_MESOS" ] && echo "mesoslite, $AGENTS agents on racks $RACKS" || echo "real Mesos master"))
  LB:         http://127.0.0.1:$LB_PORT/   (nginx; hello-lb at http://127.0.0.1:$LB_PORT/hello-lb/; files in $NGINX_DIR)
  Node agent: $([ -z "$REAL_MESOS" ] && echo "http://127.0.0.1:$NODEAGENT_PORT   (task logs: corralctl logs TASK -f streams through it; corrald token in $NODEAGENT_TOKEN)" || echo "not started (run one on each Mesos agent host)")
  Examples:   $applied
  Auth:       on; admin token in $TOKENS (user admin, group admins; user nodeagent for the node agent)
  corralctl:  export CORRAL_CONFIG=$CTL_CONFIG   (server and admin token)
              bin/corralctl get requests
  curl:       curl -H "Authorization: Bearer \$(awk '\$2 == "admin" {print \$1}' $TOKENS)" $API_URL/api/requests
  Logs:       $DIR/logs/
  Status:     hack/local-up.sh status
  Stop:       hack/local-up.sh stop        (data in $DIR is kept; add --wipe to delete it)
MSG
status >/dev/null || { echo; echo "WARNING: a component died:"; status; exit 1; }
