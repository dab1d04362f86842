import { type GradientTransformation, Tensor, adam, applyUpdates, chain, clipByGlobalNorm, dispose, fromArray, mul, readTree, scope } from 'fluxion'
import { rprop } from './rprop.js'

// An ill-conditioned quadratic f(θ) = ½ Σ aᵢ θᵢ² with curvatures 1 and 1000, so ∇f = a ⊙ θ.
const a = fromArray([1, 1000])
const gradient = (p: { readonly theta: Tensor }) => ({ theta: mul(a, p.theta) })
const loss = async (p: { readonly theta: Tensor }) => {
  const { theta } = await readTree(p)
  return 0.5 * (theta[0]! ** 2 + 1000 * theta[1]! ** 2)
}

const train = async <S>(name: string, opt: GradientTransformation<S>, steps: number): Promise<S> => {
  let params = { theta: fromArray([1, 1]) }
  let state = opt.init(params)
  const start = await loss(params)
  for (let k = 0; k < steps; k++) {
    const [next, nextState] = scope(() => {
      const [u, s] = opt.update(gradient(params), state, params)
      return [applyUpdates(params, u), s] as const
    })
    dispose([params, state], [next, nextState])
    params = next
    state = nextState
  }
  console.log(`${name.padEnd(30)} loss ${start.toExponential(2)} → ${(await loss(params)).toExponential(2)} after ${steps} steps`)
  return state
}

// rprop is a GradientTransformation like any other: it chains, wraps and saves like fluxion's own.
const state = await train('rprop', rprop({ learningRate: 0.1 }), 60)
await train('chain(clipByGlobalNorm, rprop)', chain(clipByGlobalNorm(1), rprop({ learningRate: 0.1 })), 60)
await train('adam', adam({ learningRate: 0.1 }), 60)

// The state is plain, frozen data: the tuple [rprop's { prevGrad, stepSize }, scale(-1)'s {}].
console.log('rprop state after 60 steps:', await readTree(state[0]))
