/** The table of transform laws shared by `verifyTransformLaws` and `checkTransformLaws` (internal). */
import type { AnyTransformation, Backend } from '../src/index.js'
import { float32Tolerance } from './allclose.js'
import type { SequenceInput } from './arbitraries.js'
import { hostMap } from './host.js'
import * as laws from './predicates/index.js'
import type { TransformLaw, TransformLawOptions } from './runners.js'

type LawBody = (b: Backend) => (input: SequenceInput) => Promise<laws.LawResult>

export const lawTable = (make: () => AnyTransformation, o: TransformLawOptions): [TransformLaw, string, LawBody][] => {
  const tol = o.tolerance ?? float32Tolerance
  const rows: [TransformLaw, string, LawBody][] = [
    ['leftIdentity', 'chain(identity(), t) = t', (b) => (x) => laws.leftIdentity(make(), x, b)],
    ['rightIdentity', 'chain(t, identity()) = t', (b) => (x) => laws.rightIdentity(make(), x, b)],
    ['associativity', 'chain(chain(t, t), t) = chain(t, chain(t, t))', (b) => (x) => laws.chainAssociative(make(), make(), make(), x, b)],
    ['purity', 'update and init do not mutate their inputs', (b) => (x) => laws.inputsUnchanged(make(), x, b)],
    ['determinism', 'init and update are deterministic', (b) => (x) => laws.deterministic(make(), x, b)],
    ['stateRoundTrip', 'saveState → JSON → loadState gives the same next step', (b) => (x) => laws.stateRoundTrip(make(), x, b)],
    ['compiledStep', 'compileStep(t) = update + applyUpdates (params and state); inputs unchanged; no leaks', (b) => (x) => laws.compiledStepMatches(make(), x, b, false, tol)],
    ['compiledStepDonated', 'compileStep(t, { donate }) = update + applyUpdates; donated inputs disposed; no leaks', (b) => (x) => laws.compiledStepMatches(make(), x, b, true, tol)],
  ]
  if (o.reference) rows.push(['reference', 'updates match the float64 reference', (b) => (x) => laws.matchesReference(make(), x, o.reference!(x), b, tol)])
  if (o.scaleInvariant) rows.push(['scaleInvariance', 'f(c·g) = f(g) for c > 0', (b) => (x) => laws.scaleInvariant(make(), x, 2.5, b, tol)])
  if (o.linear) {
    rows.push(['homogeneity', 'f(c·g) = c·f(g)', (b) => (x) => laws.homogeneous(make(), x, -1.5, b, tol)])
    rows.push(['additivity', 'f(g + h) = f(g) + f(h)', (b) => (x) => laws.additive(make(), x, x.grads.map((g) => hostMap((v) => Math.fround(0.5 - v), g)), b, tol)])
  }
  return rows.filter(([law]) => o.except?.[law] === undefined)
}

