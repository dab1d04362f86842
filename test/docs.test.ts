import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { generateLawsDoc } from '../scripts/laws-doc.js'

describe('docs', () => {
  it('docs/laws.md is the catalogue generated from the predicates (run npm run docs:laws)', () => {
    const doc = readFileSync('docs/laws.md', 'utf8')
    expect(doc).toBe(generateLawsDoc())
    expect(doc).not.toContain('not run in fluxion')
  })
})
