#!/usr/bin/env bash
# Installs the opsfleet agent on this host as a systemd service.
#
#   sudo scripts/install-agent.sh --nats nats://nats.example:4222 [--nats URL]... [--id ID]
#        [--tag k=v]... [--rpc-listen ADDR] [--rpc-insecure | --rpc-tls CA,CERT,KEY]
#        [--source DIR] [--link] [--user USER] [--prefix DIR] [--force] [--no-start] [--dry-run]
#
#   --nats URL         NATS server (repeatable; required)
#   --id ID            host id (default: this machine's short hostname)
#   --tag k=v          host tag (repeatable)
#   --rpc-listen ADDR  gRPC listen address for controller commands (default 127.0.0.1:7443)
#   --rpc-insecure     allow a plaintext gRPC listener (tests, loopback only)
#   --rpc-tls CA,CERT,KEY  mutual TLS files for the gRPC listener
#                      (neither: no rpc section; the agent reports but cannot be commanded)
#   --source DIR       the opsfleet checkout to install, with node_modules (default: this checkout)
#   --link             symlink /opt/opsfleet to the source instead of copying it
#   --user USER        user the service runs as (default root: health checks restart services)
#   --prefix DIR       install under DIR (DIR/opt/opsfleet, DIR/etc/opsfleet, ...) and do not touch
#                      systemd: for packaging and tests
#   --force            overwrite an existing agent.yaml (default: keep it)
#   --no-start         install and enable, but do not start the service
#   --dry-run          print every action and file instead of doing it
#
# Files: /opt/opsfleet (the code), /etc/opsfleet/agent.yaml (the config, mode 0640),
# /var/lib/opsfleet (state: outbox, identity), /etc/systemd/system/opsfleet-agent.service.
set -euo pipefail

SOURCE=$(cd "$(dirname "$0")/.." && pwd)
NATS=(); TAGS=(); HOST_ID=""; RPC_LISTEN="127.0.0.1:7443"; RPC_MODE=none; RPC_TLS=""
LINK=0; RUN_USER=root; PREFIX=""; FORCE=0; START=1; DRY=0

die() { printf 'install-agent: %s\n' "$*" >&2; exit 2; }
say() { printf 'install-agent: %s\n' "$*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --nats) [ $# -ge 2 ] || die "--nats needs a URL"; NATS+=("$2"); shift 2 ;;
    --id) [ $# -ge 2 ] || die "--id needs a value"; HOST_ID=$2; shift 2 ;;
    --tag) [ $# -ge 2 ] || die "--tag needs k=v"; TAGS+=("$2"); shift 2 ;;
    --rpc-listen) [ $# -ge 2 ] || die "--rpc-listen needs host:port"; RPC_LISTEN=$2; [ "$RPC_MODE" = none ] && RPC_MODE=listen-only; shift 2 ;;
    --rpc-insecure) RPC_MODE=insecure; shift ;;
    --rpc-tls) [ $# -ge 2 ] || die "--rpc-tls needs CA,CERT,KEY"; RPC_MODE=tls; RPC_TLS=$2; shift 2 ;;
    --source) [ $# -ge 2 ] || die "--source needs a directory"; SOURCE=$(cd "$2" && pwd) || die "no such directory: $2"; shift 2 ;;
    --link) LINK=1; shift ;;
    --user) [ $# -ge 2 ] || die "--user needs a name"; RUN_USER=$2; shift 2 ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=${2%/}; shift 2 ;;
    --force) FORCE=1; shift ;;
    --no-start) START=0; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

# --- checks ------------------------------------------------------------------------------------
[ ${#NATS[@]} -gt 0 ] || die "--nats URL is required (e.g. --nats nats://10.0.0.5:4222)"
for u in "${NATS[@]}"; do [[ "$u" =~ ^(nats|tls)://.+ ]] || die "--nats $u: expected a URL like nats://host:4222"; done
[ -n "$HOST_ID" ] || HOST_ID=$(hostname -s)
[[ "$HOST_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ ]] || die "--id $HOST_ID: letters, digits, '_' and '-' only (it is a NATS subject token), at most 63"
for t in "${TAGS[@]}"; do [[ "$t" =~ ^[A-Za-z0-9_.-]+=.*$ ]] || die "--tag $t: expected name=value"; done
[ "$RPC_MODE" = listen-only ] && die "--rpc-listen needs --rpc-insecure or --rpc-tls CA,CERT,KEY (the agent refuses plaintext gRPC otherwise)"
if [ "$RPC_MODE" = tls ]; then
  IFS=, read -r TLS_CA TLS_CERT TLS_KEY <<<"$RPC_TLS"
  [ -n "$TLS_CA" ] && [ -n "$TLS_CERT" ] && [ -n "$TLS_KEY" ] || die "--rpc-tls: expected CA,CERT,KEY file paths"
fi

NODE=$(command -v node || true)
[ -n "$NODE" ] || die "node is not installed: install Node.js >= 20.19 first (e.g. NodeSource's Debian packages)"
"$NODE" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  die "Node.js $("$NODE" --version) is too old: opsfleet needs >= 20.19"
[ -f "$SOURCE/bin/opsfleet-agent.js" ] || die "$SOURCE is not an opsfleet checkout (no bin/opsfleet-agent.js)"
[ -d "$SOURCE/node_modules" ] || die "$SOURCE has no node_modules: run 'npm ci --omit=dev' there first"
# The service runs the compiled agent (dist/, npm run build), never the sources through tsx.
if [ ! -f "$SOURCE/dist/opsfleet-agent.js" ] || [ ! -f "$SOURCE/dist/snapshot-child.js" ]; then
  if [ -f "$SOURCE/node_modules/esbuild/package.json" ] && [ -f "$SOURCE/scripts/build.mjs" ] && [ "$DRY" = 0 ]; then
    say "building $SOURCE/dist (npm run build)"
    "$NODE" "$SOURCE/scripts/build.mjs" >/dev/null || die "npm run build failed in $SOURCE"
  else
    die "$SOURCE has no compiled agent (dist/opsfleet-agent.js): run 'npm run build' there first"
  fi
fi
if [ -z "$PREFIX" ] && [ "$DRY" = 0 ] && [ "$(id -u)" != 0 ]; then die "run as root (or use --prefix DIR / --dry-run)"; fi

APP="$PREFIX/opt/opsfleet"
ETC="$PREFIX/etc/opsfleet"
CONF="$ETC/agent.yaml"
STATE="$PREFIX/var/lib/opsfleet"
UNIT_DIR="$PREFIX/etc/systemd/system"
UNIT="$UNIT_DIR/opsfleet-agent.service"

run() { # prints the command; runs it unless --dry-run
  printf '+ %s\n' "$*"
  [ "$DRY" = 1 ] || "$@"
}
write_file() { # path mode: content on stdin
  local path=$1 mode=$2 content
  content=$(cat)
  if [ "$DRY" = 1 ]; then
    printf '+ write %s (mode %s):\n%s\n' "$path" "$mode" "$content" | sed '2,$s/^/    /'
    return
  fi
  printf '+ write %s (mode %s)\n' "$path" "$mode"
  local tmp="$path.tmp.$$"
  printf '%s\n' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
}
yaml_str() { # a YAML double-quoted string (JSON strings are valid YAML)
  "$NODE" -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$1"
}

[ "$DRY" = 1 ] && say "dry run: nothing is changed"

# --- code ----------------------------------------------------------------------------------------
run mkdir -p "$(dirname "$APP")"
if [ "$SOURCE" = "$APP" ]; then
  say "$APP is the source itself; code left in place"
elif [ "$LINK" = 1 ]; then
  if [ -e "$APP" ] && [ ! -L "$APP" ]; then die "$APP exists and is not a symlink; remove it or install without --link"; fi
  run ln -sfn "$SOURCE" "$APP"
else
  [ -L "$APP" ] && run rm -f "$APP"
  run mkdir -p "$APP"
  # The code and its node_modules (better-sqlite3 is native, built for this Node); no git or local data.
  printf '+ copy %s -> %s (without .git, .data)\n' "$SOURCE" "$APP"
  if [ "$DRY" = 0 ]; then
    tar -C "$SOURCE" --exclude=./.git --exclude=./.data --exclude=./node_modules/.cache -cf - . | tar -C "$APP" -xf -
  fi
fi

# --- config --------------------------------------------------------------------------------------
run mkdir -p "$ETC" "$STATE"
run chmod 0750 "$ETC" "$STATE"
if [ "$RUN_USER" != root ] && [ -z "$PREFIX" ]; then run chown "$RUN_USER" "$STATE"; run chgrp "$(id -gn "$RUN_USER")" "$ETC"; fi

config() {
  echo "# opsfleet agent config, written by scripts/install-agent.sh $(date -u +%Y-%m-%dT%H:%M:%SZ)."
  echo "# Every key is described in $APP/examples/agent.yaml; check edits with:"
  echo "#   OPSFLEET_RUNTIME=dist $NODE $APP/bin/opsfleet-agent.js validate $CONF"
  echo "host:"
  echo "  id: $HOST_ID"
  if [ ${#TAGS[@]} -gt 0 ]; then
    echo "  tags:"
    for t in "${TAGS[@]}"; do echo "    ${t%%=*}: $(yaml_str "${t#*=}")"; done
  fi
  echo "nats:"
  echo "  servers: [$(for u in "${NATS[@]}"; do printf '%s, ' "$(yaml_str "$u")"; done | sed 's/, $//')]"
  echo "state_dir: $(yaml_str "$STATE")"
  case "$RPC_MODE" in
    insecure) printf 'rpc:\n  listen: %s\n  insecure: true\n' "$(yaml_str "$RPC_LISTEN")" ;;
    tls) printf 'rpc:\n  listen: %s\n  tls:\n    ca: %s\n    cert: %s\n    key: %s\n' "$(yaml_str "$RPC_LISTEN")" "$(yaml_str "$TLS_CA")" "$(yaml_str "$TLS_CERT")" "$(yaml_str "$TLS_KEY")" ;;
    none) echo "# rpc: no listener configured (install with --rpc-tls CA,CERT,KEY to let the controller command this agent)" ;;
  esac
  echo "heartbeat_interval: 10s"
}
if [ -e "$CONF" ] && [ "$FORCE" = 0 ]; then
  say "$CONF exists; kept (use --force to overwrite)"
else
  config | write_file "$CONF" 0640
fi
if [ "$DRY" = 0 ]; then
  OPSFLEET_RUNTIME=dist "$NODE" "$APP/bin/opsfleet-agent.js" validate "$CONF" >/dev/null || die "$CONF is not valid (see above)"
fi

# --- systemd unit --------------------------------------------------------------------------------
run mkdir -p "$UNIT_DIR"
write_file "$UNIT" 0644 <<UNIT
[Unit]
Description=opsfleet agent (heartbeat, outbox to NATS JetStream, gRPC commands)
Documentation=file://$APP/README.md
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=$RUN_USER
# The compiled agent only: a missing dist/ is an error (exit 2), not a silent tsx start.
Environment=OPSFLEET_RUNTIME=dist
ExecStart=$NODE $APP/bin/opsfleet-agent.js --config $CONF
# SIGHUP re-validates the config file; changes apply on restart.
ExecReload=/bin/kill -HUP \$MAINPID
# SIGTERM drains (outbox flush, NATS drain) and exits 0 within shutdown_grace + 2 s.
KillSignal=SIGTERM
TimeoutStopSec=20s
Restart=on-failure
RestartSec=5s
# Exit code 2 is a bad config: restarting cannot fix it.
RestartPreventExitStatus=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT

if [ -n "$PREFIX" ]; then
  say "installed under $PREFIX; systemd not touched (--prefix)"
elif [ "$DRY" = 1 ]; then
  run systemctl daemon-reload
  [ "$START" = 1 ] && run systemctl enable --now opsfleet-agent.service || run systemctl enable opsfleet-agent.service
  say "dry run done: nothing was changed"
elif [ "$START" = 1 ]; then
  run systemctl daemon-reload
  run systemctl enable --now opsfleet-agent.service
  say "started; follow it with: journalctl -u opsfleet-agent -f"
else
  run systemctl daemon-reload
  run systemctl enable opsfleet-agent.service
  say "enabled, not started; start with: systemctl start opsfleet-agent"
fi
