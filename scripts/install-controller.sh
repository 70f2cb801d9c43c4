#!/usr/bin/env bash
# Installs or upgrades the opsfleet controller (with opsctl) and a nats-server for it as systemd
# services, from a controller bundle (npm run release). Idempotent: a re-run keeps the configs,
# the data dir (database, admin token, CA) and switches the `current` link to the bundle's version.
#
#   sudo bash install-controller.sh --bundle opsfleet-controller-<v>-linux-x64.tar.gz \
#        [--agent-bundle opsfleet-agent-<v>-linux-x64.tar.gz]... [--public-url https://ops.example:8443]
#        [--listen ADDR] [--http-tls CERT,KEY | --http-insecure] [--nats-listen ADDR]
#        [--prefix DIR] [--no-enable] [--no-start] [--force] [--dry-run]
#
#   --bundle FILE        the controller bundle (FILE.sha256 beside it is checked); default: the
#                        bundle this script sits in (share/install-controller.sh of an unpacked bundle)
#   --agent-bundle FILE  an agent bundle to serve at /downloads for `curl .../install.sh | bash` (repeatable)
#   --public-url URL     the address agents reach the controller at (baked into install.sh)
#   --listen ADDR        HTTP API address (default 127.0.0.1:8080; anything else needs --http-tls or --http-insecure)
#   --nats-listen ADDR   nats-server client address (default 127.0.0.1:4222; agents on other hosts need a reachable one)
#   --prefix DIR         install under DIR; systemd is not touched (tests, packaging)
#   --no-enable          write the units but neither enable nor start them
#   --no-start           enable the units but do not start them
#   --force              rewrite controller.yaml and nats.conf (default: keep them)
#   --dry-run            print every step instead of doing it
#
# Layout: /opt/opsfleet-controller/versions/<v>/ + current link (bin/opsfleet-controller, bin/opsctl,
# runtime/bin/node), /opt/opsfleet-controller/downloads/ (agent bundles served), /etc/opsfleet-controller/
# (controller.yaml, nats.conf), /var/lib/opsfleet-controller (database, admin.token, pki/),
# /var/lib/opsfleet-nats (JetStream store), units opsfleet-controller.service and opsfleet-nats.service.
set -euo pipefail

BUNDLE=""; AGENT_BUNDLES=(); PUBLIC_URL=""; LISTEN="127.0.0.1:8080"; HTTP_TLS=""; HTTP_INSECURE=0
NATS_LISTEN="127.0.0.1:4222"; PREFIX=""; ENABLE=1; START=1; FORCE=0; DRY=0

die() { printf 'install-controller: %s\n' "$*" >&2; exit 2; }
say() { printf 'install-controller: %s\n' "$*"; }
need_arg() { [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) need_arg "$1" $#; BUNDLE=$2; shift 2 ;;
    --agent-bundle) need_arg "$1" $#; AGENT_BUNDLES+=("$2"); shift 2 ;;
    --public-url) need_arg "$1" $#; PUBLIC_URL=${2%/}; shift 2 ;;
    --listen) need_arg "$1" $#; LISTEN=$2; shift 2 ;;
    --http-tls) need_arg "$1" $#; HTTP_TLS=$2; shift 2 ;;
    --http-insecure) HTTP_INSECURE=1; shift ;;
    --nats-listen) need_arg "$1" $#; NATS_LISTEN=$2; shift 2 ;;
    --prefix) need_arg "$1" $#; PREFIX=${2%/}; shift 2 ;;
    --no-enable) ENABLE=0; START=0; shift ;;
    --no-start) START=0; shift ;;
    --force) FORCE=1; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

HERE=$(cd "$(dirname "$0")" && pwd)
APP="$PREFIX/opt/opsfleet-controller"
VERSIONS="$APP/versions"
DOWNLOADS="$APP/downloads"
ETC="$PREFIX/etc/opsfleet-controller"
CONF="$ETC/controller.yaml"
NATS_CONF="$ETC/nats.conf"
DATA="$PREFIX/var/lib/opsfleet-controller"
NATS_STORE="$PREFIX/var/lib/opsfleet-nats"
UNIT_DIR="$PREFIX/etc/systemd/system"
BIN_DIR="$PREFIX/usr/local/bin"
SYSTEMD=1; [ -n "$PREFIX" ] && SYSTEMD=0
DONE=()

run() { printf '+ %s\n' "$*"; [ "$DRY" = 1 ] || "$@"; }
write_file() {
  local path=$1 mode=$2 content
  content=$(cat)
  if [ "$DRY" = 1 ]; then printf '+ write %s (mode %s):\n%s\n' "$path" "$mode" "$content" | sed '2,$s/^/    /'; return; fi
  printf '+ write %s (mode %s)\n' "$path" "$mode"
  local tmp="$path.tmp.$$"
  printf '%s\n' "$content" >"$tmp"; chmod "$mode" "$tmp"; mv -f "$tmp" "$path"
}
swap_link() { run ln -sfn "$2" "$1.new"; run mv -Tf "$1.new" "$1"; }
systemctl_() { if [ "$SYSTEMD" = 1 ]; then run systemctl "$@"; else printf '+ (skipped, --prefix) systemctl %s\n' "$*"; fi; }
check_sum() { # file: compares with file.sha256
  [ -f "$1.sha256" ] || die "$1.sha256 is missing: the bundle cannot be checked"
  printf '+ sha256sum %s (expect %s)\n' "$1" "$1.sha256"
  local want got
  want=$(awk 'NR==1{print $1}' "$1.sha256"); got=$(sha256sum "$1" | awk '{print $1}')
  [ "$got" = "$want" ] || die "sha256 mismatch for $(basename "$1"): expected $want, got $got; nothing was installed"
}

# --- checks --------------------------------------------------------------------------------------
if [ -z "$PREFIX" ] && [ "$DRY" = 0 ] && [ "$(id -u)" != 0 ]; then die "run as root, or use --prefix DIR / --dry-run"; fi
[[ "$LISTEN" =~ ^(127\.[0-9.]+|localhost|\[::1\]):[0-9]+$ ]] || [ -n "$HTTP_TLS" ] || [ "$HTTP_INSECURE" = 1 ] ||
  die "--listen $LISTEN is not loopback: give --http-tls CERT,KEY (or --http-insecure to allow plaintext knowingly)"
if [ -n "$HTTP_TLS" ]; then IFS=, read -r TLS_CERT TLS_KEY <<<"$HTTP_TLS"; [ -n "$TLS_CERT" ] && [ -n "$TLS_KEY" ] || die "--http-tls: expected CERT,KEY"; fi
[ -z "$PUBLIC_URL" ] || [[ "$PUBLIC_URL" =~ ^https?://[A-Za-z0-9.:\[\]-]+$ ]] || die "--public-url $PUBLIC_URL: expected http(s)://host[:port]"
NATS_SERVER=$(command -v nats-server || true)
[ -n "$NATS_SERVER" ] || [ "$DRY" = 1 ] || [ -n "$PREFIX" ] || die "nats-server is not installed: apt-get install nats-server (Debian 12 ships 2.9)"
NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}

if [ -z "$BUNDLE" ]; then
  [ -f "$HERE/../BUILD.json" ] && [ -x "$HERE/../bin/opsfleet-controller" ] || die "--bundle FILE is required (this script is not inside an unpacked controller bundle)"
  SRC_DIR=$(cd "$HERE/.." && pwd); VERSION=$(cat "$SRC_DIR/VERSION")
else
  [ -f "$BUNDLE" ] || die "--bundle $BUNDLE: no such file"
  base=$(basename "$BUNDLE")
  [[ "$base" =~ ^opsfleet-controller-(.+)-linux-(x64|arm64)\.tar\.gz$ ]] || die "--bundle $base: expected opsfleet-controller-<version>-linux-<arch>.tar.gz"
  VERSION=${BASH_REMATCH[1]}
fi
for a in ${AGENT_BUNDLES[@]+"${AGENT_BUNDLES[@]}"}; do
  [[ "$(basename "$a")" =~ ^opsfleet-agent-.+-linux-(x64|arm64)\.tar\.gz$ ]] || die "--agent-bundle $a: expected opsfleet-agent-<version>-linux-<arch>.tar.gz"
  [ -f "$a" ] || die "--agent-bundle $a: no such file"
done
[ "$DRY" = 1 ] && say "dry run: nothing is changed"

# --- code ----------------------------------------------------------------------------------------
TARGET="$VERSIONS/$VERSION"
PREVIOUS=$( [ -L "$APP/current" ] && basename "$(readlink "$APP/current")" || true)
if [ -d "$TARGET" ] && [ "$FORCE" = 0 ]; then
  say "version $VERSION is already in $TARGET"
else
  run mkdir -p "$VERSIONS"
  run rm -rf "$TARGET.new"
  run mkdir -p "$TARGET.new"
  if [ -n "$BUNDLE" ]; then
    [ "$DRY" = 1 ] || check_sum "$BUNDLE"
    run tar -xzf "$BUNDLE" -C "$TARGET.new" --strip-components=1 --no-same-owner
  else
    run cp -a "$SRC_DIR/." "$TARGET.new/"
  fi
  run rm -rf "$TARGET"
  run mv -T "$TARGET.new" "$TARGET"
  DONE+=("unpacked controller $VERSION into $TARGET")
fi
if [ "$PREVIOUS" != "$VERSION" ]; then
  [ -n "$PREVIOUS" ] && swap_link "$APP/previous" "versions/$PREVIOUS"
  swap_link "$APP/current" "versions/$VERSION"
fi
CTL="$APP/current/bin/opsfleet-controller"
run mkdir -p "$BIN_DIR" "$DOWNLOADS"
swap_link "$BIN_DIR/opsfleet-controller" "$APP/current/bin/opsfleet-controller"
swap_link "$BIN_DIR/opsctl" "$APP/current/bin/opsctl"
for a in ${AGENT_BUNDLES[@]+"${AGENT_BUNDLES[@]}"}; do
  [ "$DRY" = 1 ] || check_sum "$a"
  run cp -f "$a" "$a.sha256" "$DOWNLOADS/"
  DONE+=("serving $(basename "$a") at /downloads")
done

# --- configs -------------------------------------------------------------------------------------
run mkdir -p "$ETC" "$DATA" "$NATS_STORE"
run chmod 0750 "$ETC" "$DATA" "$NATS_STORE"
NATS_PORT=${NATS_LISTEN##*:}; NATS_HOST=${NATS_LISTEN%:*}
if [ -e "$NATS_CONF" ] && [ "$FORCE" = 0 ]; then
  say "$NATS_CONF exists; kept (--force rewrites it)"
else
  # The identity work's generator (per-host NATS users) when this controller has it; a plain
  # JetStream config otherwise.
  if [ "$DRY" = 0 ] && "$CTL" --help 2>/dev/null | grep -q '^ *nats-config'; then
    printf '+ %s nats-config --data-dir %s --port %s --store-dir %s > %s\n' "$CTL" "$DATA" "$NATS_PORT" "$NATS_STORE" "$NATS_CONF"
    "$CTL" nats-config --data-dir "$DATA" --port "$NATS_PORT" --store-dir "$NATS_STORE" >"$NATS_CONF.tmp" || die "opsfleet-controller nats-config failed (above)"
    mv -f "$NATS_CONF.tmp" "$NATS_CONF"
  else
    write_file "$NATS_CONF" 0640 <<NATS
# nats-server for opsfleet, written by install-controller.sh. JetStream keeps the agents' events
# until the controller has ingested them; limits bound the store (the controller's own stream
# limits, stream.max_bytes/max_age, apply inside these).
host: "$NATS_HOST"
port: $NATS_PORT
server_name: opsfleet-nats
max_payload: 1MB
jetstream {
  store_dir: "$NATS_STORE"
  max_memory_store: 256MB
  max_file_store: 20GB
}
NATS
  fi
  DONE+=("wrote $NATS_CONF")
fi
if [ -e "$CONF" ] && [ "$FORCE" = 0 ]; then
  say "$CONF exists; kept (--force rewrites it)"
else
  {
    echo "# opsfleet controller config, written by install-controller.sh. Keys: $APP/current/share/examples/controller.yaml"
    echo "nats:"
    echo "  servers: [\"nats://127.0.0.1:$NATS_PORT\"]"
    echo "data_dir: \"$DATA\""
    echo "http:"
    echo "  listen: \"$LISTEN\""
    [ -n "$HTTP_TLS" ] && printf '  tls:\n    cert: "%s"\n    key: "%s"\n' "$TLS_CERT" "$TLS_KEY"
    [ "$HTTP_INSECURE" = 1 ] && echo "  insecure: true"
    echo "downloads:"
    echo "  dir: \"$DOWNLOADS\""
    [ -n "$PUBLIC_URL" ] && echo "  public_url: \"$PUBLIC_URL\""
    [ "$NATS_HOST" = 127.0.0.1 ] || [ "$NATS_HOST" = 0.0.0.0 ] || echo "  nats_servers: [\"nats://$NATS_HOST:$NATS_PORT\"]"
  } | write_file "$CONF" 0640
  DONE+=("wrote $CONF")
fi
if [ "$DRY" = 0 ]; then "$CTL" validate "$CONF" >/dev/null || die "$CONF is not valid (above)"; fi

# --- units ---------------------------------------------------------------------------------------
HARDEN="NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
UMask=0027"
run mkdir -p "$UNIT_DIR"
write_file "$UNIT_DIR/opsfleet-nats.service" 0644 <<UNIT
[Unit]
Description=NATS JetStream server for opsfleet
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=$NATS_SERVER -c $NATS_CONF
ExecReload=/bin/kill -HUP \$MAINPID
KillSignal=SIGTERM
Restart=on-failure
RestartSec=2s
LimitNOFILE=65536
ReadWritePaths=$NATS_STORE
$HARDEN

[Install]
WantedBy=multi-user.target
UNIT
write_file "$UNIT_DIR/opsfleet-controller.service" 0644 <<UNIT
[Unit]
Description=opsfleet controller (ingest, alerts, runs, API)
After=network-online.target opsfleet-nats.service
Wants=network-online.target opsfleet-nats.service

[Service]
Type=simple
ExecStart=$APP/current/bin/opsfleet-controller --config $CONF
ExecReload=/bin/kill -HUP \$MAINPID
KillSignal=SIGTERM
TimeoutStopSec=20s
Restart=on-failure
RestartSec=5s
RestartPreventExitStatus=2
LimitNOFILE=65536
ReadWritePaths=$DATA
$HARDEN

[Install]
WantedBy=multi-user.target
UNIT
DONE+=("wrote opsfleet-nats.service and opsfleet-controller.service (hardened: ProtectSystem=strict, ReadWritePaths for their data)")

if [ "$SYSTEMD" = 1 ]; then
  systemctl_ daemon-reload
  if [ "$ENABLE" = 1 ]; then
    systemctl_ enable opsfleet-nats.service opsfleet-controller.service
    if [ "$START" = 1 ]; then
      systemctl_ restart opsfleet-nats.service
      systemctl_ restart opsfleet-controller.service
    fi
  fi
else
  say "installed under $PREFIX; systemd not touched (--prefix)"
fi

[ "$DRY" = 1 ] && { say "dry run done: nothing was changed"; exit 0; }
say "done: controller $VERSION"
for d in ${DONE[@]+"${DONE[@]}"}; do say "  - $d"; done
say "configs:      $CONF, $NATS_CONF"
say "admin token:  $DATA/admin.token (written at the first start, mode 0600; then: opsctl login --controller URL --token-file $DATA/admin.token)"
say "fleet CA:     $DATA/pki/ca.crt (created at the first start)"
say "agent install on a host: curl -fsSL ${PUBLIC_URL:-http(s)://THIS-HOST:PORT}/install.sh | sudo bash -s -- --token \$(opsctl tokens create --enroll ...)"
say "logs:         journalctl -u opsfleet-controller -u opsfleet-nats -f"
