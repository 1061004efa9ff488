#!/usr/bin/env bash
# The local Dapr control plane: placement, scheduler and a Zipkin server, as `dapr init` would run
# them, but as plain processes (no Docker here).
#
#   controlplane.sh up      start what is not already running; wait until each answers its health check
#   controlplane.sh down    stop exactly what `up` started (pid files), nothing else
#   controlplane.sh status  one line per service
#
# Anything already answering on a service's health port (say, the containers of a normal
# `dapr init`) is used as it is and never stopped by `down`.
set -euo pipefail

dapr_bin=${DAPR_HOME:-$HOME/.dapr}/bin
state_dir=${DAPR_LOCAL_STATE:-$HOME/.local/state/dapr-order-processing}
cache_dir=${DAPR_LOCAL_CACHE:-$HOME/.cache/dapr-order-processing}
run_dir=$state_dir/run
log_dir=$state_dir/logs
zipkin_version=${ZIPKIN_VERSION:-3.6.1}
zipkin_jar=$cache_dir/zipkin/zipkin-server-$zipkin_version-exec.jar
ready_deadline_s=${READY_DEADLINE_S:-90}

# name | health URL | command
placement_health=http://127.0.0.1:58081/healthz
scheduler_health=http://127.0.0.1:58082/healthz
zipkin_health=http://127.0.0.1:9411/health

say() { printf '[controlplane] %s\n' "$*"; }

command_for() {
  case $1 in
    placement) echo "$dapr_bin/placement --port 50005 --healthz-port 58081 --metrics-port 59091" ;;
    scheduler) echo "$dapr_bin/scheduler --port 50006 --healthz-port 58082 --metrics-port 59092 \
                  --etcd-data-dir $state_dir/scheduler" ;;
    # In-memory storage: keep the newest 150k spans (~3000 orders), well inside the heap.
    zipkin) echo "env MEM_MAX_SPANS=150000 java -Xms64m -Xmx1g -XX:+ExitOnOutOfMemoryError -jar $zipkin_jar" ;;
  esac
}

health_url() { local v="$1_health"; echo "${!v}"; }
healthy() { curl -fsS --max-time 1 -o /dev/null "$(health_url "$1")" 2>/dev/null; }
pid_of() { [ -f "$run_dir/$1.pid" ] && cat "$run_dir/$1.pid"; }
# Alive and still the process we started: a pid left from an earlier boot may name another now.
ours_alive() {
  local pid; pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$1"
}

wait_healthy() { # name, pid: poll the health endpoint until the deadline or until the process dies
  local deadline=$((SECONDS + ready_deadline_s))
  until healthy "$1"; do
    kill -0 "$2" 2>/dev/null || { say "$1 exited; last log lines:"; tail -n 20 "$log_dir/$1.log"; return 1; }
    [ $SECONDS -lt $deadline ] || { say "$1 not healthy after ${ready_deadline_s}s (see $log_dir/$1.log)"; return 1; }
    sleep 0.2
  done
}

fetch_zipkin() {
  [ -f "$zipkin_jar" ] && return 0
  say "fetching io.zipkin:zipkin-server:$zipkin_version (exec jar) from Maven Central"
  mvn -q -B org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="io.zipkin:zipkin-server:$zipkin_version:jar:exec" \
    -DoutputDirectory="$(dirname "$zipkin_jar")"
}

up_one() {
  local name=$1
  if ours_alive "$name"; then
    if healthy "$name"; then say "$name already running (pid $(pid_of "$name"))"; return 0; fi
    say "$name (pid $(pid_of "$name")) does not answer its health check; restarting it"
    down_one "$name"
  fi
  if healthy "$name"; then say "$name already answers at $(health_url "$name"); not ours, using it"; return 0; fi
  [ "$name" = zipkin ] && fetch_zipkin
  # setsid: its own process group, so `down` can stop it with everything it forked.
  setsid $(command_for "$name") >"$log_dir/$name.log" 2>&1 < /dev/null &
  echo $! > "$run_dir/$name.pid"
  local started=$SECONDS
  wait_healthy "$name" $! || return 1
  say "$name ready in $((SECONDS - started)) s (pid $!, log $log_dir/$name.log)"
}

down_one() {
  local name=$1 pid
  pid=$(pid_of "$name") || { say "$name: not started by us"; return 0; }
  if ours_alive "$name"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    local deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    say "$name stopped (pid $pid)"
  else
    say "$name was not running"
  fi
  rm -f "$run_dir/$name.pid"
}

status_one() {
  local name=$1 state=down
  healthy "$name" && state=up
  if ours_alive "$name"; then echo "$name: $state (ours, pid $(pid_of "$name"))"
  else echo "$name: $state$( [ $state = up ] && echo ' (not ours)')"; fi
}

mkdir -p "$run_dir" "$log_dir" "$state_dir/scheduler"
case ${1:-} in
  up) started=$SECONDS
      for s in placement scheduler zipkin; do up_one $s; done
      say "control plane up in $((SECONDS - started)) s; logs in $log_dir" ;;
  down) for s in zipkin scheduler placement; do down_one $s; done ;;
  status) for s in placement scheduler zipkin; do status_one $s; done ;;
  fetch-zipkin) fetch_zipkin ;;  # the jar alone, for the local cluster's Zipkin image
  *) echo "usage: $0 up|down|status|fetch-zipkin" >&2; exit 2 ;;
esac
