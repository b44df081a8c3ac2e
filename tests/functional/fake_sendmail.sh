#!/usr/bin/env bash
# Stand-in for sendmail in tests: appends the message on stdin to the mbox named by $1.
# With FAKE_FAIL=TEXT, a message containing TEXT is refused with exit 7 instead.
msg=$(cat)
if [ -n "${FAKE_FAIL:-}" ] && grep -qF -- "$FAKE_FAIL" <<<"$msg"; then exit 7; fi
printf '%s\n' "$msg" >> "$1"
