#!/bin/sh
# Stand-in for sendmail in test_email: stores its standard input in $1 and exits with
# status $2 (default 0), so the test can compare what the "mailer" received.
cat > "$1" || exit 99
exit "${2:-0}"
