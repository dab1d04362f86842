/**
 * docs/getting-started.md: each program under examples/getting-started/ runs and prints what the
 * guide says, and the guide quotes every program in full (its ```ts blocks, each preceded by
 * `<!-- quoted from FILE -->`, are FILE's text in order, with nothing left out). The programs
 * type-check in test/doc-examples.test.ts.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

const dir = 'examples/getting-started'
const guide = readFileSync('docs/getting-started.md', 'utf8')

/** Checks that the guide shows these printed lines verbatim (its ```text blocks are the programs' output). */
const guideShows = (lines: readonly string[]) => {
  for (const line of lines) expect(guide, 'docs/getting-started.md shows an output the program no longer prints').toContain(line)
}

const run = (file: string) => spawnSync(process.execPath, ['--import', 'tsx', `${dir}/${file}`], { timeout: 60_000, encoding: 'utf8', env: process.env })

/** The guide's ts blocks, each with the file it says it quotes. */
const quotedBlocks = (): { readonly file: string | undefined; readonly code: string; readonly line: number }[] => {
  const lines = guide.split('\n')
  const out: { file: string | undefined; code: string; line: number }[] = []
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts\s*$/.test(lines[i]!)) continue
    const marker = /^<!-- quoted from (\S+) -->$/.exec(lines[i - 1] ?? '')
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l))
    expect(end, `unclosed ts block at docs/getting-started.md:${i + 1}`).toBeGreaterThan(i)
    out.push({ file: marker?.[1], code: lines.slice(i + 1, end).join('\n'), line: i + 1 })
    i = end
  }
  return out
}

describe('docs/getting-started.md', () => {
  it('quotes every program under examples/getting-started/ in full and in order, and nothing else', () => {
    const blocks = quotedBlocks()
    expect(blocks.filter((b) => b.file === undefined).map((b) => `docs/getting-started.md:${b.line}`), 'ts blocks without a "quoted from" marker').toEqual([])
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => `${dir}/${f}`)
    expect(new Set(blocks.map((b) => b.file))).toEqual(new Set(files))
    for (const file of files) {
      let rest = readFileSync(file, 'utf8')
      for (const b of blocks.filter((x) => x.file === file)) {
        const at = rest.indexOf(b.code)
        expect(at, `docs/getting-started.md:${b.line} is not the next part of ${file}`).toBeGreaterThanOrEqual(0)
        expect(rest.slice(0, at).trim(), `${file} has code the guide skips before docs/getting-started.md:${b.line}`).toBe('')
        rest = rest.slice(at + b.code.length)
      }
      expect(rest.trim(), `the end of ${file} is not quoted`).toBe('')
    }
  })

  it('1: the custom transformation (rprop) minimises the ill-conditioned quadratic, chained or not, and its state is data', () => {
    const r = run('1-custom-transform.ts')
    expect(r.status, r.stderr).toBe(0)
    const final = Object.fromEntries([...r.stdout.matchAll(/^(.+?) +loss \S+ → (\S+) after/gm)].map((m) => [m[1]!.trim(), Number(m[2])]))
    expect(Object.keys(final)).toEqual(['rprop', 'chain(clipByGlobalNorm, rprop)', 'adam'])
    expect(final.rprop).toBeLessThan(1e-6)
    expect(final['chain(clipByGlobalNorm, rprop)']).toBe(final.rprop) // scale invariance: the clip changes nothing
    expect(final.rprop).toBeLessThan(final.adam!)
    guideShows(r.stdout.split('\n').filter((l) => / loss .* after 60 steps$/.test(l)))
    expect(r.stdout).toMatch(/rprop state after 60 steps: \{\s+prevGrad: \{\s+theta: Float32Array\(2\)[\s\S]*stepSize: \{\s+theta: Float32Array\(2\)/)
  })

  it('2: the model passes its gradient check and learns the circle', () => {
    const r = run('2-model.ts')
    expect(r.status, r.stderr).toBe(0)
    expect(Number(r.stdout.match(/max relative error (\S+) over \d+ entries/)![1])).toBeLessThan(1e-2)
    expect(Number(r.stdout.match(/test accuracy ([\d.]+)%/)![1])).toBeGreaterThan(90)
    guideShows(r.stdout.trim().split('\n'))
  })

  it('3: every law holds for rprop, and the homogeneity predicate reports where it does not', () => {
    const r = run('3-laws.ts')
    expect(r.status, r.stderr).toBe(0)
    const laws = [...r.stdout.matchAll(/^(ok  |FAIL) (\w+) +cpu/gm)].map((m) => [m[2], m[1]!.trim()])
    expect(laws).toEqual(['leftIdentity', 'rightIdentity', 'associativity', 'purity', 'determinism', 'stateRoundTrip', 'compiledStep', 'compiledStepDonated', 'reference', 'scaleInvariance'].map((l) => [l, 'ok']))
    expect(r.stdout).toContain('scaleInvariant(c = 1000): true')
    expect(r.stdout).toMatch(/homogeneous\(c = 2\): false, \[0\]\.w\[0\]: /)
    guideShows(r.stdout.trim().split('\n').filter((l) => !l.includes('fast-check seed')))
  })
})
