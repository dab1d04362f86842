/**
 * Generates docs/laws.md from the doc comments of the law predicates (laws/predicates/*.ts) and the
 * list of where fluxion checks each law. `npm run docs:laws` writes it; test/docs.test.ts fails
 * when the committed file differs from what this script generates.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Where each predicate runs in fluxion's own suite. */
const checkedOn: Record<string, string> = {
  leftIdentity: 'every transform, wrapper and optimizer (every convention), every backend — test/core, transforms, wrappers, optimizer-table',
  rightIdentity: 'as leftIdentity',
  chainAssociative: 'as leftIdentity',
  setToZeroZeroes: 'sgd, adam, trace, scaleByAdam, scale, schedules, identity — test/core',
  backendParity: 'every transform and optimizer: cpu against wasm, gpu:webasm and gpu:webgpu',
  inputsUnchanged: 'every transform and optimizer; extreme values (NaN, ±∞, denormals) for adam, sgd, clipByGlobalNorm — test/laws',
  deterministic: 'as inputsUnchanged',
  stateRoundTrip: 'every transform, wrapper and optimizer with a stateCodec',
  scaleInvariant: 'adam, rmsprop and adagrad with ε = 0, scaleBySign, lion — test/laws',
  homogeneous: 'sgd, sgd with momentum and Nesterov — test/laws',
  additive: 'as homogeneous',
  isIdentity: 'addDecayedWeights({ weightDecay: 0 }), identity() — test/laws',
  normBounded: 'clipByNorm, clipByGlobalNorm — test/laws, test/equivalences',
  directionPreserved: 'clipByNorm (per leaf), clipByGlobalNorm (global) — test/laws, test/equivalences',
  idempotent: 'clipByNorm, clipByGlobalNorm — test/laws',
  matchesReference: 'planted-bug checks for adam and momentum — test/laws; references of every optimizer — test/optimizer-table',
  matchesClosedForm: 'every schedule — test/laws, test/schedules',
  monotone: 'every monotone schedule — test/laws, test/schedules',
  continuousAt: 'warmupCosineDecay, joinSchedules, onecycle — test/laws',
  finiteValues: 'every schedule — test/laws',
  holdsBeforeStart: 'every schedule — test/laws',
  gradientsMatch: 'every layer (dense, noisyDense, activations, dropout, gaussianNoise, batchNorm, sequential) — test/laws, test/layers',
  identityAtEvaluation: 'dropout, gaussianNoise — test/laws, test/layers',
  keepsExpectation: 'dropout — test/layers',
  compiledStepMatches: 'every transform, wrapper and optimizer (every convention), with and without donation, every backend; chains with norm clips, masks, schedules and unfused members — test/core, optimizer-table, compile',
  layerMatchesReference: 'dense, noisyDense, every activation, dropout, gaussianNoise, batchNorm (running statistics over several steps, then evaluation), sequential, every backend — test/laws-layers',
  layerBackwardMatchesReference: 'dense, noisyDense, every activation, dropout, gaussianNoise, batchNorm in training and evaluation, every backend — test/laws-layers',
  evaluationReproducesTraining: 'dense, every activation, batchNorm with momentum 0, every backend — test/laws-layers',
  lossMatchesReference: 'every loss over its whole legal range (logits to 1e4 and beyond, targets 0 and 1, errors to 1e19), every backend — test/laws-losses',
  lossFinite: 'every loss at extreme but legal inputs; softmaxCrossEntropy with logits spread over the float32 range, every backend — test/laws-losses',
  lossInvariant: 'shifts of softmax and multiclass hinge rows, (p, y) ↦ (y, p) and shifts of MSE, MAE, Huber, the symmetries of BCE and hinge, reordered rows of every loss — test/laws-losses',
  fitReturnsReportedEpoch: 'fit with early stopping on curves that get worse after their best epoch, every backend — test/laws-training',
  fitAgreesWithEarlyStopping: 'fit with random patience, minDelta, baseline and startStep, every backend — test/laws-training',
  fitCallbacksAsDocumented: 'fit with and without validation and early stopping, every backend — test/laws-training',
  fittedOnTrainingRowsOnly: 'fitStandardizer and fitCentering in keyed splits; the main job\'s split in examples/mnist.ts — test/laws-data',
  splitsArePartition: 'keyed splits; the main job\'s split — test/laws-data',
  batchesCoverEachRowOnce: 'epochBatches (shuffled or not, with and without dropRemainder) — test/laws-data',
  flattenRoundTrips: 'trees over keyedTreeArb (numeric-looking, cased, non-ASCII, prototype-member keys) — test/laws-trees',
  oneLeafOrder: 'as flattenRoundTrips',
  structureEqualityExact: 'pairs from structurePairArb (reordered, or one structural edit) — test/laws-trees',
}

const files = ['transform', 'compile', 'schedule', 'layer', 'layers-state', 'losses', 'training', 'data', 'trees'].map((f) => fileURLToPath(new URL(`../laws/predicates/${f}.ts`, import.meta.url)))

export const generateLawsDoc = (): string => {
  const rows: string[] = []
  for (const file of files) {
    const src = readFileSync(file, 'utf8')
    for (const m of src.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*export const (\w+) = (?:async )?(?:<[^>]*>)?\(/g)) {
      const statement = m[1]!
        .split('\n')
        .map((l) => l.replace(/^\s*\*\s?/, '').trim())
        .filter(Boolean)
        .join(' ')
        .replace(/\|/g, '\\|')
      rows.push(`| \`${m[2]}\` | ${statement} | ${checkedOn[m[2]!] ?? 'not run in fluxion\'s suite'} |`)
    }
  }
  return `# Laws

<!-- generated by scripts/laws-doc.ts from the predicates' doc comments: run \`npm run docs:laws\` -->

\`fluxion/laws\` keeps its parts apart, as fp-ts-laws does:

- **predicates** (\`laws/predicates/\`): each law is a function returning a \`LawResult\` (\`ok\`, and on
  failure the path, index, values and a message);
- **runners** (\`laws/runners.ts\`, fast-check only): \`assertLaw\` throws on a counterexample and
  \`verifyTransformLaws\` returns one report per law and backend; the vitest suites
  \`checkTransformLaws\`, \`checkScheduleLaws\` and \`checkLayerLaws\` (\`laws/vitest.ts\`, the
  \`fluxion/laws/vitest\` entry) register one test per law and backend. Every run uses a printed
  seed (\`FC_SEED\` replays it; \`FC_NUM_RUNS\` changes the number of runs), and a failure reports
  fast-check's seed and counterexample path;
- **arbitraries** (\`laws/arbitraries.ts\`): trees of random shapes, gradient sequences, extreme
  values (denormals, huge, ±0, NaN, ±∞), hyperparameters drawn from a transform's io-ts range
  codecs (\`hyperparametersArb\`, with the \`catalog\` of fluxion's transforms); trees over awkward
  keys (\`laws/arbitraries-keys.ts\`: numeric-looking, cased, non-ASCII, \`__proto__\`);
- **references** (\`laws/reference/\`): float64 transcriptions of the lecture formulas and of each
  optimizer and convention, layer (state included) and loss.

| law | statement | checked on |
| --- | --- | --- |
${rows.join('\n')}

Checking your own transform: see \`examples/custom-transform-laws.ts\`, or in a vitest file

\`\`\`ts
import { cpu } from 'fluxion'
import { checkTransformLaws } from 'fluxion/laws/vitest'

checkTransformLaws('my transform', () => myTransform({ rate: 0.5 }), { backends: [cpu], numRuns: 50 })
\`\`\`
`
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(fileURLToPath(new URL('../docs/laws.md', import.meta.url)), generateLawsDoc())
  console.log('docs/laws.md written')
}
