#!/bin/sh
# Run the integration tests with Debian's python3 (it has pytest, jwt and
# cryptography; a pyenv python3 earlier on PATH does not).
# Usage: tests/run-integration.sh [pytest args...]   (as root)
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 -m pytest -ra tests/integration "$@"
