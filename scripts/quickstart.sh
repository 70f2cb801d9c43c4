#!/usr/bin/env bash
# opsfleet quickstart: on a fresh Debian/Ubuntu machine, set up and run the whole system locally
# (one nats-server with JetStream, the controller and one agent), then wait; Ctrl-C stops all
# three cleanly (agent, controller, then nats-server) and exits 0.
#
#   scripts/quickstart.sh [--no-typecheck]
#
# Everything lives under .data/ in the checkout (gitignored): generated configs, the NATS
# JetStream store, the controller's SQLite database, the agent's state dir and the logs.
# Ports are chosen at run time: NATS on a free port (a NATS may already run on 4222), the
# controller's HTTP API on 127.0.0.1:8080 unless taken, the agent's gRPC on a free loopback port.
# Environment (for tests): OPSFLEET_QUICKSTART_DATA=DIR instead of .data/;
# OPSFLEET_QUICKSTART_HTTP_PORT=N to prefer port N over 8080 (0: any free port).
# SIGTERM works like Ctrl-C (note: a shell without job control starts background commands with
# SIGINT ignored, so there only SIGTERM reaches this script).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="${OPSFLEET_QUICKSTART_DATA:-$ROOT/.data}"
SHOW=${DATA#"$ROOT"/}   # how messages name it (.data when it is the default)
LOGS="$DATA/logs"
typecheck=1

say() { printf 'quickstart: %s\n' "$*"; }
die() { printf 'quickstart: %s\n' "$*" >&2; exit 1; }

for arg in "$@"; do
  case "$arg" in
    --no-typecheck) typecheck=0 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

# --- Node.js -------------------------------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node is not installed: install Node.js >= 20.19 (https://nodejs.org, or NodeSource's Debian packages), then run this again"
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  die "Node.js $(node --version) is too old: opsfleet needs >= 20.19"
fi

# --- npm dependencies (from the lock file) --------------------------------------------------
# A symlinked node_modules (a checkout sharing another's) is left alone: npm ci would empty
# the directory it points to.
if [ -L node_modules ]; then
  say "node_modules is a symlink; not running npm ci (run it where it points if dependencies are missing)"
elif [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
elif [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # A newer lock file is often only a git checkout or merge touching it: reinstall (which first
  # empties node_modules and rebuilds native modules) only when a dependency is really missing.
  if npm ls --depth=0 >/dev/null 2>&1; then
    touch node_modules/.package-lock.json
  else
    say "package-lock.json lists dependencies node_modules lacks: installing them (npm ci)"
    npm ci --no-audit --no-fund
  fi
fi

# --- nats-server -----------------------------------------------------------------------------
NATS_BIN=""
if command -v nats-server >/dev/null 2>&1; then NATS_BIN=$(command -v nats-server)
elif [ -x /usr/sbin/nats-server ]; then NATS_BIN=/usr/sbin/nats-server
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing Debian's nats-server package with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  NATS_BIN=$(command -v nats-server || echo /usr/sbin/nats-server)
  [ -x "$NATS_BIN" ] || die "apt-get installed nats-server but no binary was found"
  # The package enables a system service on 4222; quickstart runs its own private server.
else
  cat >&2 <<'MSG'
quickstart: nats-server is not installed. Install it, then run this again:
  Debian/Ubuntu:  sudo apt-get install nats-server
  elsewhere:      download a release from https://github.com/nats-io/nats-server/releases
                  and put the nats-server binary on your PATH
MSG
  exit 1
fi

# --- build: type check, then the compiled programs the daemons and opsctl run ----------------
if [ "$typecheck" = 1 ]; then
  say "type-checking (npx tsc --noEmit)"
  node_modules/.bin/tsc --noEmit -p . || die "type check failed (run with --no-typecheck to start anyway)"
fi
say "building dist/ (npm run build)"
node scripts/build.mjs >/dev/null || die "build failed (npm run build shows why)"
# What an install runs: the bundles in dist/, never the TypeScript sources through tsx.
export OPSFLEET_RUNTIME=dist

# --- ports -----------------------------------------------------------------------------------
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})'; }
port_free() { node -e 'const s=require("net").createServer();s.once("error",()=>process.exit(1));s.listen(Number(process.argv[1]),"127.0.0.1",()=>s.close())' "$1"; }
NATS_PORT=$(free_port)
WANT_HTTP=${OPSFLEET_QUICKSTART_HTTP_PORT:-8080}
if [ "$WANT_HTTP" != 0 ] && port_free "$WANT_HTTP"; then HTTP_PORT=$WANT_HTTP
else
  HTTP_PORT=$(free_port)
  [ "$WANT_HTTP" = 0 ] || say "127.0.0.1:$WANT_HTTP is taken; the controller API uses port $HTTP_PORT"
fi
RPC_PORT=$(free_port)
while [ "$RPC_PORT" = "$NATS_PORT" ] || [ "$RPC_PORT" = "$HTTP_PORT" ]; do RPC_PORT=$(free_port); done
NATS_URL="nats://127.0.0.1:$NATS_PORT"
CONTROLLER_URL="http://127.0.0.1:$HTTP_PORT"

# --- data folder, demo and configs ----------------------------------------------------------
# The demo touches nothing outside $DATA: the agent supervises a demo web service (Node, from
# examples/quickstart/demo-web.mjs) that writes under $DATA/demo, the checks probe it, the log
# source tails its log, the backup copies $DATA/demo/files to $DATA/backup-target.
mkdir -p "$DATA/nats" "$DATA/controller" "$DATA/agent" "$LOGS" "$DATA/tasks.d" "$DATA/demo/files" "$DATA/demo/logs" "$DATA/backup-target"
if [ ! -e "$DATA/demo/files/README.txt" ]; then
  printf 'Demo files backed up by the agent (backup set demo-files).\nChange or add a file here, then: npx opsctl backup list\n' >"$DATA/demo/files/README.txt"
  printf 'greeting = "hello from the quickstart"\n' >"$DATA/demo/files/app.conf"
fi
HOST_ID=$(hostname -s 2>/dev/null | tr -c 'A-Za-z0-9_\n-' '-' | cut -c1-63)
[ -n "$HOST_ID" ] || HOST_ID=local
DEMO_PORT=$(free_port)
while [ "$DEMO_PORT" = "$NATS_PORT" ] || [ "$DEMO_PORT" = "$HTTP_PORT" ] || [ "$DEMO_PORT" = "$RPC_PORT" ]; do DEMO_PORT=$(free_port); done

# Configs are copied from examples/quickstart/ once and are the user's after that: never
# overwritten. Run-time values (ports, paths) reach them as ${env:...} placeholders.
config_notes=()
install_config() { # template destination
  local src=$1 dest=$2 show=${2#"$ROOT"/}
  if [ -e "$dest" ] && head -1 "$dest" | grep -q '^# Generated by scripts/quickstart.sh from .*; overwritten on every run'; then
    # An older quickstart's copy of the full reference example (it ran nginx checks, /etc backups):
    # never edited by hand by promise of its own header, so replaced, but kept beside.
    mv "$dest" "$dest.before-demo"
    cp "$src" "$dest"
    config_notes+=("$show: written from $src (the previous generated file is kept as $show.before-demo)")
  elif [ -e "$dest" ]; then
    config_notes+=("$show: yours, kept as it is")
  else
    cp "$src" "$dest"
    config_notes+=("$show: written from $src")
  fi
}
install_config examples/quickstart/controller.yaml "$DATA/controller.yaml"
install_config examples/quickstart/agent.yaml "$DATA/agent.yaml"
install_config examples/quickstart/tasks.yaml "$DATA/tasks.d/demo.yaml"

export OPSFLEET_QS_ROOT="$ROOT" OPSFLEET_QS_DATA="$DATA" OPSFLEET_QS_HOST_ID="$HOST_ID" \
  OPSFLEET_QS_NATS_URL="$NATS_URL" OPSFLEET_QS_HTTP_LISTEN="127.0.0.1:$HTTP_PORT" \
  OPSFLEET_QS_NATS_CREDS="$DATA/agent-nats.creds" \
  OPSFLEET_QS_RPC_LISTEN="127.0.0.1:$RPC_PORT" OPSFLEET_QS_DEMO_PORT="$DEMO_PORT"
for d in controller agent; do
  if ! out=$(node "bin/opsfleet-$d.js" validate "$DATA/$d.yaml" 2>&1); then
    printf '%s\n' "$out" >&2
    die "$SHOW/$d.yaml is not valid (above: FILE:LINE:COL and what is wrong); fix it, or delete it to get the demo config again"
  fi
done

# --- processes ---------------------------------------------------------------------------------
# Each child runs in its own session (setsid), so a Ctrl-C in the terminal reaches only this
# script, which then stops the children in order. Not a group leader here, setsid execs in place:
# $! is the daemon's own PID.
NATS_PID=""; CONTROLLER_PID=""; AGENT_PID=""
stopping=0

alive() { # pid: running and not yet a zombie (a zombie still answers kill -0)
  [ -r "/proc/$1/stat" ] || return 1
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

stop_pid() { # name pid signal grace-seconds: signal, SIGKILL after the grace; reaps the child
  local name=$1 pid=$2 sig=$3 grace=$4 code=0
  [ -n "$pid" ] || return 0
  if alive "$pid"; then
    say "stopping $name (pid $pid, SIG$sig)"
    kill -"$sig" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + grace))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if alive "$pid"; then
      say "$name did not stop within ${grace}s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || code=$?
  say "$name exited ($code)"
}

stop_all() {
  local code=$1
  [ "$stopping" = 1 ] && return
  stopping=1
  trap '' INT TERM
  # Reverse start order. nats-server 2.9 exits 0 on SIGINT (1 on SIGTERM); both shut down cleanly.
  stop_pid agent "$AGENT_PID" TERM 15
  stop_pid controller "$CONTROLLER_PID" TERM 15
  stop_pid nats-server "$NATS_PID" INT 10
  say "all stopped; data and logs stay in $SHOW/"
  exit "$code"
}
trap 'stop_all 0' INT TERM
trap 'stop_all 1' ERR

# NATS in operator mode (docs/identity.md): the controller's authority (made on the first run in
# its data_dir/nats-auth) signs one user per host; the agent may publish only on its own subjects.
# An agent.yaml from before this (no creds_file) gets the old open server, with a note.
if grep -q 'creds_file' "$DATA/agent.yaml"; then
  node bin/opsfleet-controller.js nats-config --config "$DATA/controller.yaml" --port "$NATS_PORT" --store-dir "$DATA/nats" >"$DATA/nats.conf" ||
    die "cannot write the NATS config (opsfleet-controller nats-config failed above)"
  node bin/opsfleet-controller.js nats-creds --config "$DATA/controller.yaml" --host-id "$HOST_ID" --out "$DATA/agent-nats.creds" --ttl 30d >/dev/null ||
    die "cannot issue the agent's NATS credentials (opsfleet-controller nats-creds failed above)"
  # Generating took a few seconds: another program may have taken the port meanwhile.
  if ! port_free "$NATS_PORT"; then
    NATS_PORT=$(free_port); NATS_URL="nats://127.0.0.1:$NATS_PORT"; export OPSFLEET_QS_NATS_URL="$NATS_URL"
    sed -i "s/^port: .*/port: $NATS_PORT/" "$DATA/nats.conf"
  fi
  NATS_ARGS=(-c "$DATA/nats.conf")
  say "starting nats-server on $NATS_URL (JWT auth: one NATS user per host; JetStream store in $SHOW/nats)"
else
  NATS_ARGS=(-a 127.0.0.1 -p "$NATS_PORT" -js -sd "$DATA/nats")
  say "$SHOW/agent.yaml has no nats.creds_file (an older copy): NATS runs WITHOUT per-host credentials; delete it to get the secure demo config"
  say "starting nats-server on $NATS_URL (JetStream store in $SHOW/nats)"
fi
setsid "$NATS_BIN" "${NATS_ARGS[@]}" >"$LOGS/nats.log" 2>&1 &
NATS_PID=$!
for _ in $(seq 1 100); do
  grep -q 'Server is ready' "$LOGS/nats.log" 2>/dev/null && break
  alive "$NATS_PID" || { tail -20 "$LOGS/nats.log" >&2; say "nats-server failed to start" >&2; stop_all 1; }
  sleep 0.1
done
grep -q 'Server is ready' "$LOGS/nats.log" || { say "nats-server not ready after 10 s" >&2; stop_all 1; }

say "starting the controller (API $CONTROLLER_URL)"
setsid node bin/opsfleet-controller.js --config "$DATA/controller.yaml" >"$LOGS/controller.log" 2>&1 &
CONTROLLER_PID=$!
say "starting the agent (host id $HOST_ID, gRPC 127.0.0.1:$RPC_PORT)"
setsid node bin/opsfleet-agent.js --config "$DATA/agent.yaml" >"$LOGS/agent.log" 2>&1 &
AGENT_PID=$!

# Online as seen now: the database may still say "online" from an earlier run, so the host
# must also have been seen after this start.
STARTED_MS=$(node -e 'process.stdout.write(String(Date.now()))')
# The API needs a token: the controller writes its bootstrap admin token on the first start of
# a data dir; opsctl logs in with it (credentials in ${XDG_CONFIG_HOME:-~/.config}/opsfleet/,
# 0600), so the commands printed below work as typed. Credentials kept from an earlier run
# (e.g. after the bootstrap token was revoked) are used as they are.
TOKEN_FILE="$DATA/controller/admin.token"
logged_in=0
online=0
for _ in $(seq 1 120); do
  for p in "$CONTROLLER_PID:controller" "$AGENT_PID:agent"; do
    if ! alive "${p%%:*}"; then
      say "the ${p#*:} exited during start; last lines of $SHOW/logs/${p#*:}.log:" >&2
      tail -20 "$LOGS/${p#*:}.log" >&2
      stop_all 1
    fi
  done
  if [ "$logged_in" = 0 ]; then
    if { [ -s "$TOKEN_FILE" ] && node bin/opsctl.js --controller "$CONTROLLER_URL" login --token-file "$TOKEN_FILE" >/dev/null 2>&1; } ||
      node bin/opsctl.js --controller "$CONTROLLER_URL" whoami >/dev/null 2>&1; then
      logged_in=1
      say "opsctl logged in to $CONTROLLER_URL ($(node bin/opsctl.js --controller "$CONTROLLER_URL" whoami | head -1))"
    fi
  fi
  if [ "$logged_in" = 1 ] && node bin/opsctl.js --controller "$CONTROLLER_URL" hosts --json 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const h=JSON.parse(s).find(x=>x.id===process.argv[1]);process.exit(h&&h.status==="online"&&Date.parse(h.lastSeen)>=Number(process.argv[2])?0:1)})' "$HOST_ID" "$STARTED_MS" 2>/dev/null; then
    online=1; break
  fi
  sleep 0.5
done
[ "$logged_in" = 1 ] || { say "opsctl could not log in with $SHOW/controller/admin.token (revoked?): run opsctl login --controller $CONTROLLER_URL --token-file FILE with a token of yours" >&2; stop_all 1; }
[ "$online" = 1 ] || { say "host $HOST_ID did not show up online within 60 s; see $SHOW/logs/" >&2; stop_all 1; }

# --- first screen: every capability shows something ----------------------------------------------
# Wait until the demo checks are up and the first metric sample is in, so the screen is green.
for _ in $(seq 1 60); do
  if node bin/opsctl.js --controller "$CONTROLLER_URL" checks --host "$HOST_ID" --json 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const c=JSON.parse(s);process.exit(c.length>=4&&c.every(x=>x.state==="up")?0:1)})' 2>/dev/null; then
    break
  fi
  sleep 0.5
done
# A first snapshot of the demo folder, so `backup list` has one to show.
node bin/opsctl.js --controller "$CONTROLLER_URL" backup now --host "$HOST_ID" --set demo-files >/dev/null 2>&1 || true

echo
node bin/opsctl.js --controller "$CONTROLLER_URL" hosts
echo
node bin/opsctl.js --controller "$CONTROLLER_URL" checks --host "$HOST_ID" || true
cmd() { printf '  %-58s # %s\n' "$1" "$2"; }
echo
echo "opsfleet is running: nats-server (pid $NATS_PID) on $NATS_URL, controller (pid $CONTROLLER_PID) on $CONTROLLER_URL, agent \"$HOST_ID\" (pid $AGENT_PID)."
echo "The demo touches nothing outside $SHOW/: a demo web service the agent supervises (port $DEMO_PORT), its log, a backup of $SHOW/demo/files."
echo "In another terminal, from $ROOT:"
echo
cmd "export OPSFLEET_CONTROLLER=$CONTROLLER_URL" "where opsctl finds the controller"
cmd "npx opsctl hosts" "the fleet (add --json for JSON)"
cmd "npx opsctl host status $HOST_ID" "live status from the agent over gRPC"
cmd "npx opsctl checks" "health checks of the demo service"
cmd "npx opsctl host metrics $HOST_ID" "latest CPU, memory, disk and network sample"
cmd "npx opsctl logs stats --host $HOST_ID" "log lines per level from the demo log"
cmd "npx opsctl backup list" "snapshots of $SHOW/demo/files"
cmd "npx opsctl run demo-inspect --target '*'" "a playbook on every host (built-in steps)"
cmd "npx opsctl tasks" "the scheduled task from $SHOW/tasks.d/demo.yaml"
cmd "npx opsctl alerts" "firing alerts (none while the demo is healthy)"
cmd "npx opsctl --help" "everything else"
echo
echo "Configs (copied once, never overwritten; edit them, then run quickstart again):"
for n in "${config_notes[@]}"; do echo "  $n"; done
echo "  check an edit: node bin/opsfleet-agent.js validate $SHOW/agent.yaml  (or opsfleet-controller ... $SHOW/controller.yaml)"
echo "  every key: examples/agent.yaml, examples/controller.yaml, docs/configuration.md; start over: delete $SHOW/"
echo "Logs: $SHOW/logs/{nats,controller,agent}.log"
echo "Press Ctrl-C to stop everything."

# Wait; a child that dies on its own ends the quickstart (the others are stopped).
while :; do
  wait -n || true
  [ "$stopping" = 1 ] && break
  for p in "$NATS_PID:nats-server:nats" "$CONTROLLER_PID:controller:controller" "$AGENT_PID:agent:agent"; do
    IFS=: read -r pid name log <<<"$p"
    if ! alive "$pid"; then
      say "$name exited unexpectedly; last lines of $SHOW/logs/$log.log:" >&2
      tail -20 "$LOGS/$log.log" >&2
      stop_all 1
    fi
  done
done
