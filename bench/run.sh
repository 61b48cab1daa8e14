#!/bin/sh
# Issue 5's benchmark (see bench/run.py): bench/run.sh [--smoke] [--runs N]
# Runs as root with Debian's python3 (the tests' helpers need its modules).
set -e
exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
