/**
 * Summarises a StrykerJS JSON report (default reports/mutation/mutation.json, written by
 * `npm run mutation`): the mutation score per folder and per file, how many static mutants were
 * ignored, and every surviving or uncovered mutant with its line and replacement.
 *
 *   npx tsx scripts/mutation-report.ts [report.json ...] [--retest retest.json ...]
 *
 * Given several reports (a full run, then reruns of some files), each file is taken from the last
 * report that has it. `--retest` reports come from `scripts/mutation-retest.ts`: a run of only the
 * surviving mutants, with the suite as it is now; a survivor that such a run kills (same file,
 * position, mutator and replacement, on an unchanged source) counts as killed, and is listed apart.
 *
 * Score = (killed + timed out) / (killed + timed out + survived + no coverage), as Stryker states
 * it; ignored mutants and compile errors are not counted.
 *
 * Static mutants: a mutant in module-level code (outside every function: kernel definitions,
 * codec constructions) runs once, when the module is imported, before any mutant is active. Under
 * vitest with `isolate: false` Stryker does not recognise them as static and reports them as
 * survived, though no test could see them. This script finds them from the source (TypeScript's
 * parser: no enclosing function) and reports them apart as `static`, outside the score.
 */
import { readFileSync } from 'node:fs'
import ts from 'typescript'

interface Position {
  readonly line: number
  readonly column: number
}
interface Mutant {
  readonly mutatorName: string
  readonly replacement?: string
  readonly status: string
  readonly statusReason?: string
  readonly location: { readonly start: Position; readonly end: Position }
}
interface Report {
  readonly files: Record<string, { readonly source: string; readonly mutants: readonly Mutant[] }>
}

// Several reports (a full run, then partial reruns of some files): each file's mutants come from
// the last report that has that file.
const args = process.argv.slice(2)
const retestAt = args.indexOf('--retest')
const given = retestAt === -1 ? args : args.slice(0, retestAt)
const paths = given.length > 0 ? given : ['reports/mutation/mutation.json']
const read = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Report
const report: Report = { files: Object.assign({}, ...paths.map((p) => read(p).files)) as Report['files'] }
// re-tested survivors: the mutant's identity is its file, span, mutator and replacement
const key = (file: string, m: Mutant) =>
  `${file}:${m.location.start.line}:${m.location.start.column}-${m.location.end.line}:${m.location.end.column} ${m.mutatorName} ${m.replacement ?? ''}`
const retestKilled = new Set<string>()
for (const p of retestAt === -1 ? [] : args.slice(retestAt + 1)) {
  for (const [file, { source, mutants }] of Object.entries(read(p).files)) {
    if (report.files[file]?.source !== source) throw new Error(`${p}: ${file} differs from the source of the main report; re-test on the same source`)
    for (const m of mutants) if (m.status === 'Killed' || m.status === 'Timeout') retestKilled.add(key(file, m))
  }
}
const killedOnRetest: string[] = []

interface Tally {
  killed: number
  survived: number
  noCoverage: number
  ignored: number
  errors: number
}
const tally = (): Tally => ({ killed: 0, survived: 0, noCoverage: 0, ignored: 0, errors: 0 })
const add = (t: Tally, status: string): void => {
  if (status === 'Static') t.ignored++
  else if (status === 'Killed' || status === 'Timeout') t.killed++
  else if (status === 'Survived') t.survived++
  else if (status === 'NoCoverage') t.noCoverage++
  else if (status === 'Ignored') t.ignored++
  else t.errors++
}
const score = (t: Tally): string => {
  const n = t.killed + t.survived + t.noCoverage
  return n === 0 ? '  n/a' : `${((100 * t.killed) / n).toFixed(1).padStart(5)}%`
}
const row = (name: string, t: Tally): string =>
  `${name.padEnd(34)} ${score(t)}  killed ${String(t.killed).padStart(4)}  survived ${String(t.survived).padStart(3)}  no cov ${String(t.noCoverage).padStart(3)}  static ${String(t.ignored).padStart(3)}  errors ${t.errors}`

const folders = new Map<string, Tally>()
const files = new Map<string, Tally>()
const total = tally()
const survivors: string[] = []
/** Whether the position (1-based line, 0-based column, as Stryker reports) lies outside every function. */
const moduleLevel = (sf: ts.SourceFile, line: number, column: number): boolean => {
  const pos = sf.getPositionOfLineAndCharacter(line - 1, column)
  let inFunction = false
  const visit = (node: ts.Node): void => {
    if (pos < node.getStart(sf) || pos >= node.getEnd()) return
    if (ts.isFunctionLike(node)) inFunction = true
    else ts.forEachChild(node, visit)
  }
  ts.forEachChild(sf, visit)
  return !inFunction
}

for (const [file, { source, mutants }] of Object.entries(report.files).sort(([a], [b]) => a.localeCompare(b))) {
  const folder = file.split('/').slice(0, -1).join('/')
  const lines = source.split('\n')
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true)
  for (const m0 of mutants) {
    const { line, column } = m0.location.start
    const retested = m0.status === 'Survived' && retestKilled.has(key(file, m0))
    if (retested) killedOnRetest.push(`${file}:${line}:${column} ${m0.mutatorName} → ${(m0.replacement ?? '').replace(/\s+/g, ' ').slice(0, 80)}`)
    const m = retested ? { ...m0, status: 'Killed' } : m0.status === 'Survived' && moduleLevel(sf, line, column) ? { ...m0, status: 'Static' } : m0
    add(total, m.status)
    add(folders.get(folder) ?? folders.set(folder, tally()).get(folder)!, m.status)
    add(files.get(file) ?? files.set(file, tally()).get(file)!, m.status)
    if (m.status === 'Survived' || m.status === 'NoCoverage') {
      const { line, column } = m.location.start
      const original = (lines[line - 1] ?? '').trim()
      survivors.push(`${file}:${line}:${column} ${m.status} ${m.mutatorName}\n    ${original}\n    → ${(m.replacement ?? '').replace(/\s+/g, ' ').slice(0, 160)}`)
    }
  }
}

console.log(row('all', total))
for (const [f, t] of folders) console.log(row(f, t))
console.log('')
for (const [f, t] of files) console.log(row(f, t))
if (retestAt !== -1) {
  console.log(`\n${killedOnRetest.length} survivors killed when re-tested:`)
  for (const k of killedOnRetest) console.log(`  ${k}`)
}
console.log(`\n${survivors.length} surviving or uncovered mutants:`)
for (const s of survivors) console.log(s)
