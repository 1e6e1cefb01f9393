#!/bin/sh
# pretest: the Python venv the consumer checks run in (.venv, test/consumers/requirements.txt).
# Creates it when missing and installs the requirements whenever the file differs from the copy
# kept in the venv after the last successful install; otherwise does nothing and prints nothing.
set -eu
cd "$(dirname "$0")/../.."
req=test/consumers/requirements.txt
stamp=.venv/.medallion-requirements.txt
if [ -x .venv/bin/python ] && cmp -s "$req" "$stamp"; then exit 0; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
echo "medallion: installing $req into .venv" >&2
.venv/bin/pip install -q -r "$req"
cp "$req" "$stamp"
