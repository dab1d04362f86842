/**
 * Every `@example` in the doc comments of src/ and laws/ type-checks: scripts/doc-examples.ts turns
 * each ```ts block into a module importing the public names it uses from 'fluxion' (and
 * 'fluxion/gpu', 'fluxion/laws', 'fluxion/laws/vitest') and checks them all in one program with
 * tsconfig.json's strict options, together with the getting-started examples and a planted file
 * that proves the checker can fail.
 */
import { readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { type CheckResult, checkExamples, formatFailures } from '../scripts/doc-examples.js'

// 126 examples when this floor was set; a collector that finds far fewer is broken.
const floor = 120
const gettingStarted = readdirSync('examples/getting-started')
  .filter((f) => f.endsWith('.ts'))
  .map((f) => `examples/getting-started/${f}`)

// Checked in the same program: a good example, a type error, a name that is not exported, top-level
// await, an @example without a ts block and one with a plain-text block.
const planted = {
  file: 'planted/doc-examples-self-check.ts',
  text: [
    '/**',
    ' * @example',
    ' * ```ts',
    ' * const x: number = constant(0.1)(3)',
    ' * ```',
    ' */',
    'export const good = 1',
    '/**',
    ' * @example',
    ' * ```ts',
    " * const lr: string = constant(0.1)(3)",
    ' * notExportedAnywhere()',
    ' * ```',
    ' */',
    'export const bad = 1',
    '/**',
    ' * @example',
    ' * ```ts',
    ' * const t = await read(fromArray([1, 2]))',
    ' * ```',
    ' */',
    'export const awaits = 1',
    '/** @example constant(1) */',
    'export const unfenced = 1',
    '/**',
    ' * @example',
    ' * ```text',
    ' * not code',
    ' * ```',
    ' */',
    'export const textOnly = 1',
  ].join('\n'),
}

describe('doc-comment examples', () => {
  let result: CheckResult | undefined
  const checked = () => (result ??= checkExamples({ extraFiles: gettingStarted, extraSources: [planted] }))
  const own = () => {
    const r = checked()
    const mine = (x: { readonly file: string }) => x.file !== planted.file
    return { ...r, examples: r.examples.filter(mine), malformed: r.malformed.filter(mine), failures: r.failures.filter((f) => mine(f.example)) }
  }

  it('the checker reports a planted type error and unknown name by file:line, accepts top-level await, and flags tags without a ts block', () => {
    const r = checked()
    expect(r.examples.filter((e) => e.file === planted.file).map((e) => e.line)).toEqual([4, 11, 19])
    const failures = r.failures.filter((f) => f.example.file === planted.file)
    expect(failures.map((f) => f.example.line)).toEqual([11])
    expect(failures[0]!.messages).toEqual([
      expect.stringMatching(/^planted\/doc-examples-self-check\.ts:11:7: Type 'number' is not assignable to type 'string'/),
      expect.stringMatching(/^planted\/doc-examples-self-check\.ts:12:1: Cannot find name 'notExportedAnywhere'/),
    ])
    expect(r.malformed.filter((m) => m.file === planted.file)).toEqual([
      { file: planted.file, line: 23, problem: '@example without a ```ts block' },
      { file: planted.file, line: 26, problem: '@example without a ```ts block' },
    ])
  })

  it(`the collector finds at least ${floor} examples in src/ and laws/, each a closed ts block`, () => {
    const { examples, malformed } = own()
    expect(examples.length).toBeGreaterThanOrEqual(floor)
    expect(new Set(examples.map((e) => e.file.split('/')[0]))).toEqual(new Set(['src', 'laws']))
    expect(examples.every((e) => e.code.trim() !== '')).toBe(true)
    expect(malformed.map((m) => `${m.file}:${m.line}: ${m.problem}`)).toEqual([])
  })

  it('every example type-checks (file:line of the block, then the diagnostics)', () => {
    const r = own()
    expect(r.failures.length, `${r.failures.length} of ${r.examples.length} examples do not type-check:\n\n${formatFailures({ ...r, fileDiagnostics: [], malformed: [] })}`).toBe(0)
  })

  it('the getting-started examples type-check in the same program', () => {
    expect(gettingStarted.length).toBeGreaterThanOrEqual(4)
    expect(checked().fileDiagnostics).toEqual([])
  })
})
