#!/usr/bin/env bash
# A run that fails halfway through rendering leaves every document of the previous run
# as it was (documents are renamed into place only after all of them rendered), leaves no
# temporaries, and keeps the previous manifest. With --jobs 1 and --jobs 2.
source "$KP_ROOT/tests/functional/lib.sh"
cp "$KP_ROOT/sample-data/"*.csv "$TMP/"
mk_template() { # $1 = file, $2 = SQL value expression
    cat > "$TMP/$1" <<INI
[document]
kind = pdf
title = Card {name}
[table t]
sql = SELECT :rep_id AS rep, $2 AS x
INI
}
mk_template good.ini "1"
# abs() of the smallest 64-bit integer is a runtime SQL error: only for the last rep.
mk_template bad.ini "CASE WHEN :rep_id = (SELECT max(rep_id) FROM reps WHERE active = 1) THEN abs(-9223372036854775808) ELSE 2 END"
mk_job() { # $1 = template
    sample_job "$TMP" Atomic <<INI
[report cards]
template = $1
burst = SELECT rep_id, name FROM reps WHERE active = 1 ORDER BY rep_id
output = cards/{rep_id}.pdf
INI
}
for jobs in 1 2; do
    rm -rf "$TMP/out" "$TMP/db"
    mk_job good.ini
    expect_exit 0 "good run (--jobs $jobs)" "$KP_BIN" run "$TMP/job.ini" --quiet --jobs $jobs
    cp -r "$TMP/out" "$TMP/before"
    mk_job bad.ini
    expect_exit 3 "run failing on the last document fails (--jobs $jobs)" "$KP_BIN" run "$TMP/job.ini" --quiet --jobs $jobs
    expect_stderr "integer overflow" "the SQL error is reported"
    check "previous documents and manifest untouched (--jobs $jobs)" diff -r "$TMP/before" "$TMP/out"
    check "no temporaries left (--jobs $jobs)" bash -c "[ -z \"\$(find '$TMP/out' -name '.*.tmp-*')\" ]"
    rm -rf "$TMP/before"
done
