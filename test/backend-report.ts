/**
 * Which backends a run exercised, for the suite's closing line. Test workers are separate
 * processes, so each record is one JSON line appended to a file in the folder that vitest.config.ts
 * creates for the run (`FLUXION_BACKEND_REPORT_DIR`); test/summary-reporter.ts reads them at the end.
 */
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'

/** One backend's status as seen by one test file. */
export interface BackendRecord {
  readonly name: string
  /** Available to this file's tests; the summary counts it as run only if a passed test names it. */
  readonly ran: boolean
  /** Why it did not run, and how to enable it. */
  readonly why?: string
}

/** Records that `name` is available to this test file's tests, or is not, and why. */
export const reportBackend = (name: string, ran: boolean, why?: string): void => {
  const dir = process.env.FLUXION_BACKEND_REPORT_DIR
  if (!dir) return // a test file run outside the suite's config
  const record: BackendRecord = why === undefined ? { name, ran } : { name, ran, why }
  appendFileSync(join(dir, `${process.pid}.jsonl`), `${JSON.stringify(record)}\n`)
}
