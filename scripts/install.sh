#!/usr/bin/env bash
# Installs, upgrades, rolls back or removes the opsfleet agent on this host.
# The controller serves this script with its own address baked in:
#
#   curl -fsSL https://CONTROLLER/install.sh | sudo bash -s -- --token TOKEN [--tag role=web]...
#
# Options:
#   --token T           enrollment token (opsctl tokens create --enroll ...); without it the agent is
#                       installed but not enrolled (enroll later: opsfleet-agent enroll --token T)
#   --tag k=v           host tag (repeatable): written to agent.yaml and sent with the enrollment
#   --id ID             host id (default: this machine's short hostname)
#   --controller URL    controller to download from and enroll with (default: the one that served this)
#   --nats URL          NATS server the agent publishes to (repeatable; default: what the controller says)
#   --version V         agent version to install (default: the newest the controller serves)
#   --bundle FILE       install from a local opsfleet-agent-*.tar.gz (FILE.sha256 beside it) instead of downloading
#   --rpc-listen ADDR   gRPC listen address for controller commands (default 0.0.0.0:7443; with --token the
#                       listener serves the enrolled host certificate: rpc.identity)
#   --rpc-insecure      plaintext gRPC listener (tests on loopback only)
#   --rpc-tls CA,CERT,KEY  mutual-TLS files for the gRPC listener (instead of the enrollment certificate)
#   --user USER         user the service runs as (default root: health checks restart services)
#   --prefix DIR        install under DIR (DIR/opt/opsfleet, DIR/etc/opsfleet, ...); systemd is not touched
#   --no-enable         write the unit but neither enable nor start it
#   --no-start          enable the unit but do not start it
#   --force             overwrite an existing agent.yaml (default: keep it) and reinstall the same version
#   --dry-run           print every step instead of doing it
#   --rollback          switch back to the version installed before the current one
#   --uninstall         remove the program and the unit; keeps /etc/opsfleet and /var/lib/opsfleet
#   --purge             with --uninstall: also remove the config and the state (identity, outbox)
#
# Layout: /opt/opsfleet/versions/<version>/ (one unpacked bundle each, with its own Node.js runtime),
# /opt/opsfleet/current -> versions/<version> (what the unit runs), /opt/opsfleet/previous (for
# --rollback); upgrade and rollback swap the link. /etc/opsfleet/agent.yaml (config),
# /var/lib/opsfleet (state: identity, outbox), /etc/systemd/system/opsfleet-agent.service.
set -euo pipefail

# --- baked by the controller that serves this script (GET /install.sh) ---
BAKED_CONTROLLER_URL=''
BAKED_VERSION=''
BAKED_NATS=''
# --- end of baked values ---

CONTROLLER_URL=$BAKED_CONTROLLER_URL; VERSION=$BAKED_VERSION
TOKEN=""; TAGS=(); NATS=(); HOST_ID=""; BUNDLE=""; RPC_LISTEN=""; RPC_MODE=default; RPC_TLS=""
RUN_USER=root; PREFIX=""; ENABLE=1; START=1; FORCE=0; DRY=0; MODE=install; PURGE=0
KEEP_VERSIONS=3

die() { printf 'opsfleet-install: %s\n' "$*" >&2; exit 2; }
say() { printf 'opsfleet-install: %s\n' "$*"; }

need_arg() { [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --token) need_arg "$1" $#; TOKEN=$2; shift 2 ;;
    --tag) need_arg "$1" $#; TAGS+=("$2"); shift 2 ;;
    --id) need_arg "$1" $#; HOST_ID=$2; shift 2 ;;
    --controller) need_arg "$1" $#; CONTROLLER_URL=${2%/}; shift 2 ;;
    --nats) need_arg "$1" $#; NATS+=("$2"); shift 2 ;;
    --version) need_arg "$1" $#; VERSION=$2; shift 2 ;;
    --bundle) need_arg "$1" $#; BUNDLE=$2; shift 2 ;;
    --rpc-listen) need_arg "$1" $#; RPC_LISTEN=$2; shift 2 ;;
    --rpc-insecure) RPC_MODE=insecure; shift ;;
    --rpc-tls) need_arg "$1" $#; RPC_MODE=tls; RPC_TLS=$2; shift 2 ;;
    --user) need_arg "$1" $#; RUN_USER=$2; shift 2 ;;
    --prefix) need_arg "$1" $#; PREFIX=${2%/}; shift 2 ;;
    --no-enable) ENABLE=0; START=0; shift ;;
    --no-start) START=0; shift ;;
    --force) FORCE=1; shift ;;
    --dry-run) DRY=1; shift ;;
    --rollback) MODE=rollback; shift ;;
    --uninstall) MODE=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help)
      # Piped through bash (curl | bash) there is no file to read the header from.
      if [ -f "$0" ]; then sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; else echo "options: see the header of ${BAKED_CONTROLLER_URL:-CONTROLLER}/install.sh (curl -fsSL URL/install.sh | head -40)"; fi
      exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

APP="$PREFIX/opt/opsfleet"
VERSIONS="$APP/versions"
ETC="$PREFIX/etc/opsfleet"
CONF="$ETC/agent.yaml"
STATE="$PREFIX/var/lib/opsfleet"
UNIT_DIR="$PREFIX/etc/systemd/system"
UNIT="$UNIT_DIR/opsfleet-agent.service"
BIN_LINK="$PREFIX/usr/local/bin/opsfleet-agent"
SYSTEMD=1; [ -n "$PREFIX" ] && SYSTEMD=0
DONE=() # what this run changed, printed at the end

run() { # prints the command; runs it unless --dry-run
  printf '+ %s\n' "$*"
  [ "$DRY" = 1 ] || "$@"
}
write_file() { # path mode: content on stdin; atomic replace
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
swap_link() { # name target: atomic symlink replace (rename over the old link)
  run ln -sfn "$2" "$1.new"
  run mv -Tf "$1.new" "$1"
}
systemctl_() {
  if [ "$SYSTEMD" = 1 ]; then run systemctl "$@"; else printf '+ (skipped, --prefix) systemctl %s\n' "$*"; fi
}
current_version() { [ -L "$APP/current" ] && basename "$(readlink "$APP/current")" || true; }
yaml_str() { # a YAML double-quoted string
  local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"
}

[ "$PURGE" = 1 ] && [ "$MODE" != uninstall ] && die "--purge goes with --uninstall"
if [ -z "$PREFIX" ] && [ "$DRY" = 0 ] && [ "$(id -u)" != 0 ]; then die "run as root (sudo bash -s -- ...), or use --prefix DIR / --dry-run"; fi
[ "$DRY" = 1 ] && say "dry run: nothing is changed"

# --- uninstall -----------------------------------------------------------------------------------
if [ "$MODE" = uninstall ]; then
  if [ -f "$UNIT" ]; then
    systemctl_ disable --now opsfleet-agent.service
    run rm -f "$UNIT"
    systemctl_ daemon-reload
  fi
  run rm -rf "$APP"
  run rm -f "$BIN_LINK"
  if [ "$PURGE" = 1 ]; then
    run rm -rf "$ETC" "$STATE"
    say "removed the agent, its config ($ETC) and its state ($STATE): this host must enroll again"
  else
    say "removed the agent; kept $ETC and $STATE (identity, outbox): a reinstall picks them up (--purge removes them)"
  fi
  exit 0
fi

# --- rollback ------------------------------------------------------------------------------------
if [ "$MODE" = rollback ]; then
  [ -L "$APP/previous" ] || die "no previous version recorded in $APP/previous: nothing to roll back to"
  prev=$(basename "$(readlink "$APP/previous")"); cur=$(current_version)
  [ -d "$VERSIONS/$prev" ] || die "the previous version $prev is gone from $VERSIONS"
  swap_link "$APP/current" "versions/$prev"
  [ -n "$cur" ] && swap_link "$APP/previous" "versions/$cur"
  systemctl_ try-restart opsfleet-agent.service
  say "rolled back: $cur -> $prev (run --rollback again to return to $cur)"
  exit 0
fi

# --- install / upgrade: checks -------------------------------------------------------------------
[ -n "$HOST_ID" ] || HOST_ID=$(hostname -s)
[[ "$HOST_ID" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ ]] || die "--id $HOST_ID: letters, digits, '_' and '-' only (it is a NATS subject token), at most 63"
for t in ${TAGS[@]+"${TAGS[@]}"}; do [[ "$t" =~ ^[A-Za-z0-9_.-]+=.*$ ]] || die "--tag $t: expected name=value"; done
if [ ${#NATS[@]} -eq 0 ] && [ -n "$BAKED_NATS" ]; then read -r -a NATS <<<"$BAKED_NATS"; fi
for u in ${NATS[@]+"${NATS[@]}"}; do [[ "$u" =~ ^(nats|tls)://.+ ]] || die "--nats $u: expected a URL like nats://host:4222"; done
if [ "$RPC_MODE" = tls ]; then
  IFS=, read -r TLS_CA TLS_CERT TLS_KEY <<<"$RPC_TLS"
  [ -n "$TLS_CA" ] && [ -n "$TLS_CERT" ] && [ -n "$TLS_KEY" ] || die "--rpc-tls: expected CA,CERT,KEY file paths"
fi
case "$(uname -m)" in
  x86_64|amd64) ARCH=x64 ;;
  aarch64|arm64) ARCH=arm64 ;;
  *) die "unsupported machine $(uname -m): bundles exist for x86_64 (and arm64 where built)" ;;
esac
[ "$(uname -s)" = Linux ] || die "the agent bundle is for Linux"

if [ -n "$BUNDLE" ]; then
  [ -f "$BUNDLE" ] || die "--bundle $BUNDLE: no such file"
  base=$(basename "$BUNDLE")
  [[ "$base" =~ ^opsfleet-agent-(.+)-linux-(x64|arm64)\.tar\.gz$ ]] || die "--bundle $base: expected a file named opsfleet-agent-<version>-linux-<arch>.tar.gz"
  VERSION=${BASH_REMATCH[1]}
  [ "${BASH_REMATCH[2]}" = "$ARCH" ] || die "--bundle $base is for ${BASH_REMATCH[2]}, this machine is $ARCH"
else
  [ -n "$CONTROLLER_URL" ] || die "--controller URL is required (this copy of the script was not served by a controller)"
  [[ "$CONTROLLER_URL" =~ ^https?://[^[:space:]]+$ ]] || die "--controller $CONTROLLER_URL: expected http(s)://host[:port]"
  [ -n "$VERSION" ] || die "--version is required (the controller that served this script had no agent bundle)"
fi
[[ "$VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "--version $VERSION: expected a version like 1.2.3"
FILE="opsfleet-agent-$VERSION-linux-$ARCH.tar.gz"
[ -n "$TOKEN" ] && [ -z "$CONTROLLER_URL" ] && die "--token needs --controller URL (the controller to enroll with)"
command -v sha256sum >/dev/null || die "sha256sum is missing (coreutils)"
command -v tar >/dev/null || die "tar is missing"

PREVIOUS=$(current_version)
TARGET="$VERSIONS/$VERSION"

# --- code: download, verify, unpack, switch ------------------------------------------------------
if [ -d "$TARGET" ] && [ "$FORCE" = 0 ]; then
  say "version $VERSION is already unpacked in $TARGET (use --force to reinstall it)"
else
  WORK=""
  if [ "$DRY" = 0 ]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/opsfleet-install.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
  fi
  if [ -n "$BUNDLE" ]; then
    SRC=$BUNDLE; SUMFILE="$BUNDLE.sha256"
    [ -f "$SUMFILE" ] || die "$SUMFILE is missing: the bundle cannot be checked"
  else
    SRC="$WORK/$FILE"; SUMFILE="$WORK/$FILE.sha256"
    fetch() { # url file
      if command -v curl >/dev/null; then run curl -fsSL --retry 3 -o "$2" "$1"
      elif command -v wget >/dev/null; then run wget -q -O "$2" "$1"
      else die "neither curl nor wget is installed"; fi
    }
    fetch "$CONTROLLER_URL/downloads/$FILE.sha256" "$SUMFILE" || die "cannot download $CONTROLLER_URL/downloads/$FILE.sha256 (does the controller serve version $VERSION for $ARCH?)"
    fetch "$CONTROLLER_URL/downloads/$FILE" "$SRC" || die "cannot download $CONTROLLER_URL/downloads/$FILE"
  fi
  printf '+ sha256sum %s (expect the sum in %s)\n' "$SRC" "$SUMFILE"
  if [ "$DRY" = 0 ]; then
    want=$(awk 'NR==1{print $1}' "$SUMFILE")
    [[ "$want" =~ ^[0-9a-f]{64}$ ]] || die "$SUMFILE does not hold a sha256 sum"
    got=$(sha256sum "$SRC" | awk '{print $1}')
    [ "$got" = "$want" ] || die "sha256 mismatch for $FILE: expected $want, got $got; nothing was installed"
  fi
  run mkdir -p "$VERSIONS"
  run rm -rf "$TARGET.new"
  run mkdir -p "$TARGET.new"
  run tar -xzf "$SRC" -C "$TARGET.new" --strip-components=1 --no-same-owner
  if [ "$DRY" = 0 ]; then
    [ -x "$TARGET.new/bin/opsfleet-agent" ] && [ -x "$TARGET.new/runtime/bin/node" ] || die "$FILE is not an agent bundle (no bin/opsfleet-agent or runtime/bin/node)"
    "$TARGET.new/bin/opsfleet-agent" --version >/dev/null 2>&1 || die "the unpacked agent does not run on this host: $("$TARGET.new/bin/opsfleet-agent" --version 2>&1 | head -3)"
  fi
  run rm -rf "$TARGET"
  run mv -T "$TARGET.new" "$TARGET"
  DONE+=("unpacked $FILE (sha256 checked) into $TARGET")
fi

# --- config --------------------------------------------------------------------------------------
run mkdir -p "$ETC" "$STATE"
run chmod 0750 "$ETC" "$STATE"
if [ "$RUN_USER" != root ] && [ -z "$PREFIX" ]; then run chown "$RUN_USER" "$STATE"; run chgrp "$(id -gn "$RUN_USER")" "$ETC"; fi
AGENT="$APP/current/bin/opsfleet-agent"

config() {
  echo "# opsfleet agent config, written by the opsfleet installer $(date -u +%Y-%m-%dT%H:%M:%SZ)."
  echo "# Every key is described in $APP/current/share/examples/agent.yaml; check edits with:"
  echo "#   $AGENT validate $CONF"
  echo "host:"
  echo "  id: $HOST_ID"
  if [ ${#TAGS[@]} -gt 0 ]; then
    echo "  tags:"
    for t in "${TAGS[@]}"; do echo "    ${t%%=*}: $(yaml_str "${t#*=}")"; done
  fi
  echo "nats:"
  if [ ${#NATS[@]} -gt 0 ]; then
    printf '  servers: ['; local first=1
    for u in "${NATS[@]}"; do [ $first = 1 ] || printf ', '; first=0; yaml_str "$u"; done
    printf ']\n'
  else
    echo "  servers: [\"nats://127.0.0.1:4222\"] # no --nats given and the controller named none: edit this"
  fi
  echo "state_dir: $(yaml_str "$STATE")"
  case "$RPC_MODE" in
    insecure) printf 'rpc:\n  listen: %s\n  insecure: true\n' "$(yaml_str "${RPC_LISTEN:-127.0.0.1:7443}")" ;;
    tls) printf 'rpc:\n  listen: %s\n  tls:\n    ca: %s\n    cert: %s\n    key: %s\n' "$(yaml_str "${RPC_LISTEN:-0.0.0.0:7443}")" "$(yaml_str "$TLS_CA")" "$(yaml_str "$TLS_CERT")" "$(yaml_str "$TLS_KEY")" ;;
    default)
      if [ -n "$TOKEN" ] || [ -f "$STATE/identity/identity.json" ]; then
        # gRPC served with the enrolled host certificate; only the controller's certificate is accepted.
        printf 'rpc:\n  listen: %s\n  identity: true\n' "$(yaml_str "${RPC_LISTEN:-0.0.0.0:7443}")"
      else
        echo "# rpc: none (not enrolled: re-run with --token, or --rpc-tls CA,CERT,KEY)"
      fi ;;
  esac
  echo "heartbeat_interval: 10s"
}
if [ -e "$CONF" ] && [ "$FORCE" = 0 ]; then
  say "$CONF exists; kept (use --force to overwrite)"
else
  config | write_file "$CONF" 0640
  DONE+=("wrote $CONF")
fi

# --- switch: current -> this version (previous kept for --rollback) ------------------------------
if [ "$PREVIOUS" != "$VERSION" ]; then
  [ -n "$PREVIOUS" ] && swap_link "$APP/previous" "versions/$PREVIOUS"
  swap_link "$APP/current" "versions/$VERSION"
  DONE+=("switched $APP/current to $VERSION${PREVIOUS:+ (was $PREVIOUS; --rollback returns to it)}")
fi
run mkdir -p "$(dirname "$BIN_LINK")"
swap_link "$BIN_LINK" "$APP/current/bin/opsfleet-agent"
if [ "$DRY" = 0 ]; then
  "$AGENT" validate "$CONF" >/dev/null || die "$CONF is not valid (see above); fix it and re-run"
fi
# Older versions beyond the last $KEEP_VERSIONS go, never current or previous.
if [ "$DRY" = 0 ] && [ -d "$VERSIONS" ]; then
  keep_prev=$(current_version); keep_old=$( [ -L "$APP/previous" ] && basename "$(readlink "$APP/previous")" || true)
  # shellcheck disable=SC2012 # names are versions we made
  ls -1t "$VERSIONS" | grep -v '\.new$' | tail -n +$((KEEP_VERSIONS + 1)) | while read -r old; do
    [ "$old" = "$keep_prev" ] || [ "$old" = "$keep_old" ] || run rm -rf "${VERSIONS:?}/$old"
  done
fi

# --- enrollment ----------------------------------------------------------------------------------
if [ -n "$TOKEN" ]; then
  if [ -f "$STATE/identity/identity.json" ] && [ "$FORCE" = 0 ]; then
    say "already enrolled ($STATE/identity/identity.json): identity kept"
  else
    args=(enroll --config "$CONF" --controller "$CONTROLLER_URL" --token "$TOKEN")
    for t in ${TAGS[@]+"${TAGS[@]}"}; do args+=(--tag "$t"); done
    printf '+ %s enroll --config %s --controller %s --token *** %s\n' "$AGENT" "$CONF" "$CONTROLLER_URL" "${TAGS[*]+${TAGS[*]/#/--tag }}"
    if [ "$DRY" = 0 ]; then "$AGENT" "${args[@]}" || die "enrollment failed (above); the agent is installed: re-run with a valid --token"; fi
    DONE+=("enrolled with $CONTROLLER_URL as $HOST_ID")
  fi
elif [ ! -f "$STATE/identity/identity.json" ]; then
  say "no --token: not enrolled (enroll later with: $AGENT enroll --config $CONF --controller URL --token T)"
fi

# --- systemd unit --------------------------------------------------------------------------------
run mkdir -p "$UNIT_DIR"
write_file "$UNIT" 0644 <<UNIT
[Unit]
Description=opsfleet agent (heartbeat, outbox to NATS JetStream, gRPC commands)
Documentation=file://$APP/current/README.md
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=$RUN_USER
# The bundle's own Node.js runtime; current is a link the installer swaps on upgrade/rollback.
ExecStart=$APP/current/bin/opsfleet-agent --config $CONF
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
# Hardening: the agent writes only its state dir. Health checks restart units over D-Bus (allowed);
# local backup targets, restores and playbook shell steps that write elsewhere need a drop-in
# (systemctl edit opsfleet-agent: ReadWritePaths=/srv/backups ...), see docs/install.md.
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=$STATE
ProtectHome=read-only
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
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
UMask=0027

[Install]
WantedBy=multi-user.target
UNIT
DONE+=("wrote $UNIT (hardened: ProtectSystem=strict, ReadWritePaths=$STATE, NoNewPrivileges)")

if [ "$SYSTEMD" = 0 ]; then
  say "installed under $PREFIX; systemd not touched (--prefix)"
else
  systemctl_ daemon-reload
  if [ "$ENABLE" = 0 ]; then
    say "unit written, not enabled (--no-enable): systemctl enable --now opsfleet-agent"
  elif [ "$START" = 0 ]; then
    systemctl_ enable opsfleet-agent.service
    DONE+=("enabled opsfleet-agent.service (not started: --no-start)")
  else
    systemctl_ enable opsfleet-agent.service
    # restart, not start: an upgrade must replace the running old version.
    systemctl_ restart opsfleet-agent.service
    DONE+=("enabled and (re)started opsfleet-agent.service")
  fi
fi

if [ "$DRY" = 1 ]; then say "dry run done: nothing was changed"; exit 0; fi
say "done: agent $VERSION on $HOST_ID"
for d in ${DONE[@]+"${DONE[@]}"}; do say "  - $d"; done
say "config $CONF, state $STATE; logs: journalctl -u opsfleet-agent -f"
