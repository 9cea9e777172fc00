# Shared by scripts/*: small helpers, sourced, not run.

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs Debian packages that are not installed yet (as root, or with sudo).
ensure_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo="sudo"
  fi
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) and run this again"
}

# The Python venv with the simulators the tests use: snmpsim (SNMP agents from
# recordings), pymodbus (Modbus servers; pyserial for RTU) and aiosmtpd (a
# real SMTP server for alarm email). It uses Debian's
# own python3 so that snmpsim, which drops privileges to `nobody`, can read its
# files. Prints the venv's path.
DCWATCH_PY_REQUIREMENTS="snmpsim pysmi pymodbus==3.16.1 pyserial aiosmtpd"
ensure_venv() {
  local venv="${DCWATCH_VENV:-$PWD/target/venv}"
  ensure_apt python3-venv python3-gdbm
  if [ "$(cat "$venv/.dcwatch-requirements" 2>/dev/null)" != "$DCWATCH_PY_REQUIREMENTS" ]; then
    say "making the Python venv for the simulators in $venv ($DCWATCH_PY_REQUIREMENTS)"
    [ -x "$venv/bin/pip" ] || /usr/bin/python3 -m venv "$venv"
    # pysmi is a dependency snmpsim does not declare.
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q $DCWATCH_PY_REQUIREMENTS >&2
    echo "$DCWATCH_PY_REQUIREMENTS" > "$venv/.dcwatch-requirements"
  fi
  chmod -R a+rX "$venv"
  echo "$venv"
}
