import { type AnyTransformation, adam, applyUpdates, chain, dispose, fromArray, readTree, scaleByAdam, scaleByLearningRate, scope, trace } from 'fluxion'

// Parameters are trees of tensors; here θ = { w, b } for f(θ) = ½‖w‖² + ½‖b‖², so ∇f = θ.
let params = { w: fromArray([1, -2, 3, -4], [2, 2]), b: fromArray([0.5, -0.5]) }

// An optimizer is a chain of pure transformations: `adam` is chain(scaleByAdam(), scaleByLearningRate(…)),
// and custom ones compose the same way, e.g. chain(trace({ decay: 0.5 }), scaleByAdam(), scaleByLearningRate(0.1)).
const opt: AnyTransformation = process.argv.includes('--custom')
  ? chain(trace({ decay: 0.5 }), scaleByAdam(), scaleByLearningRate(0.1))
  : adam({ learningRate: 0.1 })
let state = opt.init(params)

for (let step = 0; step < 100; step++) {
  const grads = params
  // `scope` releases every intermediate tensor; `dispose` releases the old params and state.
  const [next, nextState] = scope(() => {
    const [updates, s] = opt.update(grads, state, params)
    return [applyUpdates(params, updates), s] as const
  })
  dispose([params, state], [next, nextState])
  params = next
  state = nextState
}

const { w, b } = await readTree(params)
console.log('w', Array.from(w).map((x) => x.toFixed(4)), 'b', Array.from(b).map((x) => x.toFixed(4)))
