#!/usr/bin/env bash
# The tandem program after `cmake --install`: it runs from the installed tree
# and finds its Python scripts there (share/tandem/bench beside bin/), not in
# the build tree.   installed_program.sh <build folder>
set -euo pipefail
build=$1
prefix=$(mktemp -d "${TMPDIR:-/tmp}/tandem-install-XXXXXX")
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/tandem"
test -f "$prefix/share/tandem/bench/bench_common.py"
"$prefix/bin/tandem" info | grep -q "start methods:"
"$prefix/bin/tandem" bench --only files_waits --json "$prefix/report.json" >/dev/null
python3 - "$prefix/report.json" "$prefix" <<'PYTHON'
import json, sys
report = json.load(open(sys.argv[1]))
modes = [mode["mode"] for mode in report["workloads"][0]["modes"]]
assert "python_threads" in modes, f"the installed program ran no Python modes: {modes}"
PYTHON
echo "installed program: OK"
