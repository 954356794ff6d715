#!/usr/bin/env bash
# Checks the shipped systemd units with `systemd-analyze verify`: the template as an instance
# (hf-outbox@agent-01.service) in system mode, and the user unit in user mode. Fails when
# systemd-analyze exits non-zero or prints anything about the unit files themselves (an unknown
# key, a bad value, a missing executable); messages about other units on the host are shown
# but do not count.
#
# Usage: scripts/verify-units.sh [UNIT_DIR]     (default: the systemd/ folder of this repository)
# Exit: 0 clean · 1 a problem in a unit · 2 systemd-analyze is not installed
set -uo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
units="${1:-$repo/systemd}"

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "verify-units: systemd-analyze not found; install it with: apt-get install -y systemd" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/system" "$work/user" "$work/runtime"
chmod 700 "$work/runtime"
# A template cannot be verified as such: verify one instance of it.
cp "$units/hf-outbox@.service" "$work/system/hf-outbox@agent-01.service"
cp "$units/user/hf-outbox.service" "$work/user/hf-outbox.service"

failed=0

# verify MODE FILE: MODE is "system" or "user".
verify() {
  local mode="$1" file="$2" name out rc
  name="$(basename "$file")"
  local args=(verify --man=no --generators=no "$file")
  if [[ "$mode" == user ]]; then
    # The user manager needs a runtime directory; an empty private one is enough for verify.
    out="$(XDG_RUNTIME_DIR="$work/runtime" systemd-analyze --user "${args[@]}" 2>&1)"
    rc=$?
  else
    out="$(systemd-analyze "${args[@]}" 2>&1)"
    rc=$?
  fi
  # Lines about our unit name it either by path ("/tmp/.../x.service:12: ...") or by name ("x.service: ...").
  local ours
  ours="$(grep -F -e "$name" <<<"$out" || true)"
  if [[ $rc -ne 0 || -n "$ours" ]]; then
    echo "FAIL $mode unit $name (systemd-analyze exit $rc):"
    sed 's/^/  /' <<<"${ours:-$out}"
    failed=1
  else
    echo "ok   $mode unit $name"
    if [[ -n "$out" ]]; then
      echo "     (messages about other units, ignored:)"
      sed 's/^/       /' <<<"$out"
    fi
  fi
}

echo "systemd-analyze: $(systemd-analyze --version | head -n 1)"
verify system "$work/system/hf-outbox@agent-01.service"
verify user "$work/user/hf-outbox.service"
exit "$failed"
