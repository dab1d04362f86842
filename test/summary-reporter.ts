import { readFileSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Reporter, TestModule } from 'vitest/node'
import type { BackendRecord } from './backend-report.js'

/** Backends outside the Node suite: where they are tested instead. */
const elsewhere: Readonly<Record<string, string>> = {
  'gpu:headlessgl': "not in the suite: gpu.js's optional `gl` package does not build on these machines",
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * The backends of this run: those test/backend-report.ts recorded as available and that a passed
 * test names (`[gpu:webasm]`, `on 'cpu'`, `browser:webgl2 ...`); the others are skipped, with the
 * recorded reason or because no test ran on them (a filtered run).
 */
export const backendSummary = (dir: string | undefined, passedTests: readonly string[]): string => {
  const ran = new Set<string>()
  const available = new Set<string>()
  const skipped = new Map<string, string>()
  for (const file of dir ? readdirSync(dir) : []) {
    for (const line of readFileSync(join(dir!, file), 'utf8').split('\n')) {
      if (line === '') continue
      const r = JSON.parse(line) as BackendRecord
      if (r.ran) available.add(r.name)
      else if (!skipped.has(r.name)) skipped.set(r.name, r.why ?? 'no reason given')
    }
  }
  for (const name of available) {
    const token = new RegExp(`(^|[^\\w:])${escape(name)}($|[^\\w:])`)
    if (passedTests.some((t) => token.test(t))) {
      ran.add(name)
      skipped.delete(name)
    } else if (!skipped.has(name)) skipped.set(name, 'available, but no test of this run ran on it')
  }
  for (const [name, why] of Object.entries(elsewhere)) if (!ran.has(name) && !skipped.has(name)) skipped.set(name, why)
  const ranText = ran.size === 0 ? 'none' : [...ran].sort().join(', ')
  const skippedText = skipped.size === 0 ? 'none' : [...skipped].sort(([a], [b]) => a.localeCompare(b)).map(([n, why]) => `${n} (${why})`).join('; ')
  return `backends: ran ${ranText}; skipped ${skippedText}`
}

/**
 * Prints the plain closing line 'N passed, N failed, N skipped' after vitest's own summary, then
 * one line naming the backends that ran and those that were skipped, with how to enable them.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0
    let failed = 0
    let skipped = 0
    const passedNames: string[] = []
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state
        if (s === 'passed') passedNames.push(t.fullName)
        if (s === 'passed') passed++
        else if (s === 'failed') failed++
        else skipped++
      }
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) failed++
    }
    const dir = process.env.FLUXION_BACKEND_REPORT_DIR
    const backends = backendSummary(dir, passedNames)
    if (dir) rmSync(dir, { recursive: true, force: true })
    console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`)
    console.log(backends)
  }
}
