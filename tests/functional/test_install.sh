#!/usr/bin/env bash
# `make install` into a staging directory (DESTDIR): the binary, the shipped templates and
# the man page land under PREFIX, and the installed binary finds its templates there (beside
# its own directory, not in the source tree) when a job names them without a path.
. "$(dirname "$0")/lib.sh"

stage=$TMP/stage
prefix=/opt/kp
# install-files is `make install` without its build step: it installs the binary under test
# (build-asan's under make asan) instead of building one.
check "make install-files DESTDIR=... PREFIX=$prefix" \
    make -s -C "$KP_ROOT" install-files DESTDIR="$stage" PREFIX="$prefix" BIN="$KP_BIN"
inst=$stage$prefix
check "binary installed and executable" test -x "$inst/bin/kpipress"
check "man page installed" test -s "$inst/share/man/man1/kpipress.1"
missing=""
for t in "$KP_ROOT"/templates/*.ini; do
    cmp -s "$t" "$inst/share/kpipress/templates/$(basename "$t")" || missing="$missing $(basename "$t")"
done
if [ -z "$missing" ]; then ok "every shipped template installed unchanged"; else notok "templates missing or different:$missing"; fi
if "$inst/bin/kpipress" --version | grep -q '^kpipress '; then ok "installed binary runs"; else notok "installed binary runs"; fi

# A job outside the source tree naming a shipped template: found under PREFIX/share.
job=$TMP/job
mkdir -p "$job"
cp "$KP_ROOT"/sample-data/*.csv "$job/"
sample_job "$job" "Install check" <<EOF
[report board-pack]
template = board-pack.ini
output = board-pack.xlsx
EOF
expect_exit 0 "installed binary checks a job that names a shipped template" \
    env -u KPIPRESS_TEMPLATES "$inst/bin/kpipress" check "$job/job.ini"
# ... and only there: without the installed template the same check fails on it.
rm "$inst/share/kpipress/templates/board-pack.ini"
expect_exit 2 "without the installed template the check fails" \
    env -u KPIPRESS_TEMPLATES "$inst/bin/kpipress" check "$job/job.ini"
expect_stderr "board-pack.ini" "the error names the missing template"
echo "1..$_tap_n"
