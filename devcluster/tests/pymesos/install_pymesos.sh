#!/bin/sh
# Installs pymesos from PyPI. pymesos depends on http-parser 0.9.0, whose C
# extension no longer builds on Python >= 3.11 (it includes the removed
# longintrepr.h), so a plain `pip install pymesos` fails there. http-parser
# ships a pure-Python parser too: install its sdist with the extension
# switched off, then pymesos.
set -e
python3 -c "import pymesos" 2>/dev/null && exit 0
python3 -m pip install --quiet pymesos 2>/dev/null && python3 -c "import pymesos" && exit 0
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: -d "$d" http-parser==0.9.0
tar xzf "$d"/http-parser-0.9.0.tar.gz -C "$d"
sed -i 's/run_setup(not IS_PYPY)/run_setup(False)/' "$d"/http-parser-0.9.0/setup.py
python3 -m pip install --quiet "$d"/http-parser-0.9.0
python3 -m pip install --quiet pymesos
python3 -c "import pymesos"
