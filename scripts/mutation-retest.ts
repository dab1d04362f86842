/**
 * Writes a StrykerJS configuration (reports/mutation/retest.config.json) that mutates only the
 * surviving mutants of the given reports, with the suite as it is now: Stryker's incremental mode
 * does not rerun a survivor when only new tests were added, and a part of `scripts/mutation-parts.sh`
 * that ran before some tests were written has not seen them.
 *
 *   npx tsx scripts/mutation-retest.ts reports/mutation/optimizers.json ...
 *   FLUXION_BACKENDS=cpu npx stryker run reports/mutation/retest.config.json
 *   npx tsx scripts/mutation-report.ts reports/mutation/*.json --retest reports/mutation/retest.json
 *
 * Only files whose source is unchanged since their report are included (the report's spans would
 * not match otherwise). Module-level (static) survivors are included too: they run no test, stay
 * survived, and the report puts them apart again.
 */
import { readFileSync, writeFileSync } from 'node:fs'

interface Position {
  readonly line: number
  readonly column: number
}
interface Report {
  readonly files: Record<string, { readonly source: string; readonly mutants: readonly { readonly status: string; readonly location: { readonly start: Position; readonly end: Position } }[] }>
}

const spans = new Set<string>()
const skipped: string[] = []
for (const p of process.argv.slice(2)) {
  const report = JSON.parse(readFileSync(p, 'utf8')) as Report
  for (const [file, { source, mutants }] of Object.entries(report.files)) {
    if (readFileSync(file, 'utf8') !== source) {
      skipped.push(file)
      continue
    }
    // the report's columns are 1-based, a `mutate` range's are 0-based
    for (const m of mutants) {
      if (m.status === 'Survived') spans.add(`${file}:${m.location.start.line}:${m.location.start.column - 1}-${m.location.end.line}:${m.location.end.column - 1}`)
    }
  }
}
const config = JSON.parse(readFileSync('stryker.config.json', 'utf8')) as Record<string, unknown>
writeFileSync(
  'reports/mutation/retest.config.json',
  JSON.stringify({ ...config, mutate: [...spans], incremental: false, reporters: ['progress-append-only', 'json'], jsonReporter: { fileName: 'reports/mutation/retest.json' } }, null, 2),
)
console.log(`${spans.size} survivor spans written to reports/mutation/retest.config.json`)
if (skipped.length > 0) console.log(`left out (source changed since the report): ${skipped.join(', ')}`)
