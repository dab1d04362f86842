#!/bin/bash
# Runs `npm run mutation` part by part, one StrykerJS run per part, each writing its own report
# (reports/mutation/<name>.json), so a two-hour run gives results as it goes, a part can be rerun
# alone after new tests, and `npx tsx scripts/mutation-report.ts reports/mutation/*.json` merges
# them (each file from the last report that has it). Each part copies the working tree when it
# starts: tests written meanwhile count for the parts that start after them.
#
#   scripts/mutation-parts.sh name:glob[,glob...] ...
#   scripts/mutation-parts.sh core:'src/core/**/*.ts' opt:'src/optimizers/**/*.ts'
#
# Without arguments it runs the four folders, the same mutants as `npm run mutation`. The tests run on
# the cpu backend unless FLUXION_BACKENDS says otherwise (FLUXION_BACKENDS=cpu,wasm for src/tensor/wasm).
set -u
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  set -- core:'src/core/**/*.ts' optimizers:'src/optimizers/**/*.ts' schedules:'src/schedules/**/*.ts' transforms:'src/transforms/**/*.ts'
fi
mkdir -p reports/mutation
config=reports/mutation/part.config.json
for spec in "$@"; do
  name=${spec%%:*}
  globs=${spec#*:}
  # the project's configuration, with this part's files, no incremental reuse and its own report
  node -e '
    const fs = require("fs")
    const c = JSON.parse(fs.readFileSync("stryker.config.json", "utf8"))
    c.mutate = process.argv[1].split(",")
    c.incremental = false
    c.reporters = ["progress-append-only", "json"]
    c.jsonReporter = { fileName: `reports/mutation/${process.argv[2]}.json` }
    fs.writeFileSync(process.argv[3], JSON.stringify(c, null, 2))
  ' "$globs" "$name" "$config"
  echo "=== $name ($globs) started $(date +%T)"
  FLUXION_BACKENDS=${FLUXION_BACKENDS:-cpu} npx stryker run "$config" > "reports/mutation/$name.log" 2>&1
  echo "=== $name ended $(date +%T), exit $?: $(tail -n 3 "reports/mutation/$name.log" | grep -o 'tested ([0-9]* survived.*' | tail -1)"
done
rm -f "$config"
