/**
 * @internal Elementwise ops compiled to WebAssembly SIMD: the op's expressions (the same strings
 * every backend runs) are parsed and emitted as f32x4 code, four elements per step, with float32
 * semantics throughout (every literal, scalar and intermediate is a float32, as on the GPUs and in
 * the frameworks).
 *
 * - Arithmetic, comparisons, `?:` (a lane select: both branches are evaluated, which has no side
 *   effect here), `sqrt`, `abs`, `min`, `max`, `floor`, `ceil`, `trunc` and `sign` are single SIMD
 *   instructions or short sequences of them, exact as IEEE 754 float32. `Math.fround` is the
 *   identity (every value already is a float32).
 * - `exp` and `log` are vectorised Cephes approximations (Moshier's `expf` and `logf`: Cody–Waite
 *   range reduction and a degree-6 / degree-9 polynomial), within 2 ulp of the correctly rounded
 *   float32 result, with exact special values (±∞, 0, NaN, subnormal inputs and outputs).
 * - Every other `Math` function (`tanh`, `pow`, `sin`, …, and the `%` and `**` operators) takes a
 *   documented scalar path: each lane is computed by the host's `Math` function in float64 and
 *   rounded to float32.
 *
 * Loops: an op whose broadcast inputs share one inner length L (a bias of shape [L] against
 * [rows, L], a per-row statistic [rows, 1]) runs as rows × L with vector loads in each row and the
 * row's per-row values splatted once; a scalar input ([] or [1]) is splatted once per call. Other
 * layouts compute every lane's index. The last 1–3 elements of a row are gathered into a vector and
 * computed by the same code, so an element's result does not depend on its position.
 */
import { FluxionError } from '../../errors.js'
import type { ElementwiseOp, Read } from '../tensor.js'
import { Code, type FunctionDef, type ImportDef, encodeModule, f32, f64, i32, v128 } from './encode.js'
import { type Node, isBool, parse } from './expr.js'

/** How the generated loop walks the output. */
export type LoopShape = 'rows' | 'gather'

export interface KernelSource {
  readonly bytes: Uint8Array
  readonly shape: LoopShape
  /** The inner length L of the `rows` shape (undefined: L is the whole size). */
  readonly inner?: number
  /** Host functions the module imports, in order (`h.f0`, `h.f1`, …). */
  readonly hostFns: readonly ((...xs: number[]) => number)[]
}

const hostFunctions: Readonly<Record<string, (...xs: number[]) => number>> = {
  tanh: Math.tanh, sinh: Math.sinh, cosh: Math.cosh, asinh: Math.asinh, acosh: Math.acosh, atanh: Math.atanh,
  sin: Math.sin, cos: Math.cos, tan: Math.tan, asin: Math.asin, acos: Math.acos, atan: Math.atan, atan2: Math.atan2,
  pow: Math.pow, log1p: Math.log1p, expm1: Math.expm1, log2: Math.log2, log10: Math.log10, cbrt: Math.cbrt, hypot: Math.hypot,
  '%': (a, b) => a % b,
}

const f32Bits = (x: number): number => new Int32Array(Float32Array.of(x).buffer)[0]!

/** Emits the f32x4 code of expressions over named v128 locals. */
class Emitter {
  readonly hostNames: string[] = []
  /** Loop-invariant subexpressions computed once before the loop: node → v128 local. */
  private readonly hoisted = new Map<Node, number>()
  /** Loop-invariant conditions of `?:`: node → i32 local (the same for every lane). */
  private readonly uniform = new Map<Node, number>()
  constructor(readonly c: Code, readonly vars: Map<string, number>, readonly where: string) {}

  /**
   * Emits, before the loop, every maximal subexpression of `roots` that depends only on scalars
   * and literals (e.g. Adam's `nesterov > 0`, or `1 - d` for a scalar d), and the lane-uniform
   * conditions of `?:`; the loop then reads them from locals, and a `?:` with a uniform condition
   * becomes a branch (one side evaluated) instead of a lane select. `invariantNames` are the names
   * whose value is the same for every element (the scalars). Returns the names of `lets` that are
   * invariant, for the caller to hoist in turn.
   */
  hoist(roots: readonly Node[], invariantNames: ReadonlySet<string>): void {
    const invariant = (n: Node): boolean => {
      switch (n.k) {
        case 'num': return true
        case 'var': return invariantNames.has(n.name)
        case 'unary': return invariant(n.a)
        case 'bin': return invariant(n.a) && invariant(n.b)
        case 'cond': return invariant(n.c) && invariant(n.a) && invariant(n.b)
        case 'call': return n.args.every(invariant)
      }
    }
    const visit = (n: Node): void => {
      if (invariant(n)) {
        if (n.k === 'num' || n.k === 'var' || this.hoisted.has(n)) return
        if (isBool(n)) this.bool(n)
        else this.num(n)
        const l = this.tmp()
        this.c.set(l)
        this.hoisted.set(n, l)
        return
      }
      switch (n.k) {
        case 'unary': visit(n.a); return
        case 'bin': visit(n.a); visit(n.b); return
        case 'call': n.args.forEach(visit); return
        case 'cond':
          if (invariant(n.c) && !this.uniform.has(n.c)) {
            this.bool(n.c)
            const l = this.c.local(i32)
            this.c.anyTrue().set(l)
            this.uniform.set(n.c, l)
          } else visit(n.c)
          visit(n.a)
          visit(n.b)
          return
        default:
      }
    }
    roots.forEach(visit)
  }

  private tmp(): number {
    return this.c.local(v128)
  }

  private host(fn: string, args: readonly Node[]): void {
    const c = this.c
    const key = `${fn}/${args.length}`
    let idx = this.hostNames.indexOf(key)
    if (idx < 0) idx = this.hostNames.push(key) - 1
    const ts = args.map((a) => {
      this.num(a)
      const t = this.tmp()
      c.set(t)
      return t
    })
    const out = this.tmp()
    c.f32x4Const(0).set(out)
    for (let lane = 0; lane < 4; lane++) {
      c.get(out)
      for (const t of ts) c.get(t).f32x4ExtractLane(lane).f64PromoteF32()
      c.call(idx).f32DemoteF64().f32x4ReplaceLane(lane).set(out)
    }
    c.get(out)
  }

  /** Pushes the float32x4 value of n. */
  num(n: Node): void {
    const c = this.c
    const h = this.hoisted.get(n)
    if (h !== undefined) {
      c.get(h)
      return
    }
    if (isBool(n)) {
      this.bool(n)
      c.f32x4Const(1).v128And()
      return
    }
    switch (n.k) {
      case 'num':
        c.f32x4Const(n.v)
        return
      case 'var': {
        const l = this.vars.get(n.name)
        if (l === undefined) throw new FluxionError(`${this.where}: unknown name ${JSON.stringify(n.name)}`)
        c.get(l)
        return
      }
      case 'unary':
        this.num(n.a)
        c.f32x4Neg()
        return
      case 'cond': {
        const u = this.uniform.get(n.c)
        if (u !== undefined) {
          c.get(u).ifV128()
          this.num(n.a)
          c.else_()
          this.num(n.b)
          c.end()
          return
        }
        this.num(n.a)
        this.num(n.b)
        this.bool(n.c)
        c.bitselect()
        return
      }
      case 'bin':
        switch (n.op) {
          case '+': case '-': case '*': case '/':
            this.num(n.a)
            this.num(n.b)
            if (n.op === '+') c.f32x4Add()
            else if (n.op === '-') c.f32x4Sub()
            else if (n.op === '*') c.f32x4Mul()
            else c.f32x4Div()
            return
          case '%':
            this.host('%', [n.a, n.b])
            return
          case '**':
            this.host('pow', [n.a, n.b])
            return
          case '&&': case '||': {
            // JavaScript semantics on numbers: a || b is a when a is truthy, else b
            const t = this.tmp()
            this.num(n.a)
            c.set(t)
            if (n.op === '||') {
              c.get(t)
              this.num(n.b)
              this.truthy(t)
            } else {
              this.num(n.b)
              c.get(t)
              this.truthy(t)
            }
            c.bitselect()
            return
          }
          default:
            throw new FluxionError(`${this.where}: internal: ${n.op} is boolean`)
        }
      case 'call':
        this.call(n.fn, n.args)
        return
    }
  }

  /** Pushes the truthiness mask of the number in local t: t ≠ 0 and t is not NaN. */
  private truthy(t: number): void {
    this.c.get(t).f32x4Const(0).f32x4Ne().get(t).get(t).f32x4Eq().v128And()
  }

  /** Pushes an all-ones / all-zeros lane mask for a boolean-valued (or truthy) n. */
  bool(n: Node): void {
    const c = this.c
    const h = this.hoisted.get(n)
    if (h !== undefined) {
      c.get(h)
      return
    }
    if (!isBool(n)) {
      this.num(n)
      const t = this.tmp()
      c.set(t)
      this.truthy(t)
      return
    }
    switch (n.k) {
      case 'unary':
        this.bool(n.a)
        c.v128Not()
        return
      case 'cond':
        this.bool(n.a)
        this.bool(n.b)
        this.bool(n.c)
        c.bitselect()
        return
      case 'bin': {
        if (n.op === '&&' || n.op === '||') {
          this.bool(n.a)
          this.bool(n.b)
          if (n.op === '&&') c.v128And()
          else c.v128Or()
          return
        }
        if ((n.op === '==' || n.op === '!=') && isBool(n.a) && isBool(n.b)) {
          this.bool(n.a)
          this.bool(n.b)
          c.v128Xor()
          if (n.op === '==') c.v128Not()
          return
        }
        this.num(n.a)
        this.num(n.b)
        const ops = { '<': () => c.f32x4Lt(), '<=': () => c.f32x4Le(), '>': () => c.f32x4Gt(), '>=': () => c.f32x4Ge(), '==': () => c.f32x4Eq(), '!=': () => c.f32x4Ne() } as const
        ops[n.op as keyof typeof ops]()
        return
      }
      default:
        throw new FluxionError(`${this.where}: internal: not boolean`)
    }
  }

  private unaryArg(fn: string, args: readonly Node[]): Node {
    if (args.length !== 1) throw new FluxionError(`${this.where}: Math.${fn} takes one argument here, got ${args.length}`)
    return args[0]!
  }

  private call(fn: string, args: readonly Node[]): void {
    const c = this.c
    switch (fn) {
      case 'fround':
        this.num(this.unaryArg(fn, args))
        return
      case 'sqrt': case 'abs': case 'floor': case 'ceil': case 'trunc': {
        this.num(this.unaryArg(fn, args))
        ;({ sqrt: () => c.f32x4Sqrt(), abs: () => c.f32x4Abs(), floor: () => c.f32x4Floor(), ceil: () => c.f32x4Ceil(), trunc: () => c.f32x4Trunc() })[fn]()
        return
      }
      case 'max': case 'min': {
        if (args.length === 0) {
          c.f32x4Const(fn === 'max' ? -Infinity : Infinity)
          return
        }
        this.num(args[0]!)
        for (const a of args.slice(1)) {
          this.num(a)
          if (fn === 'max') c.f32x4Max()
          else c.f32x4Min()
        }
        return
      }
      case 'sign': {
        const t = this.tmp()
        this.num(this.unaryArg(fn, args))
        c.set(t)
        c.f32x4Const(1).f32x4Const(-1).get(t).get(t).f32x4Const(0).f32x4Lt().bitselect()
        c.get(t).f32x4Const(0).f32x4Gt().bitselect()
        return
      }
      case 'round': {
        // JavaScript rounds halves up: floor(x) + (x − floor(x) ≥ 0.5)
        const x = this.tmp()
        const f = this.tmp()
        this.num(this.unaryArg(fn, args))
        c.tee(x).f32x4Floor().set(f)
        c.get(f).f32x4Const(1).f32x4Add().get(f).get(x).get(f).f32x4Sub().f32x4Const(0.5).f32x4Ge().bitselect()
        return
      }
      case 'exp':
        this.num(this.unaryArg(fn, args))
        this.exp()
        return
      case 'log':
        this.num(this.unaryArg(fn, args))
        this.log()
        return
      default:
        if (hostFunctions[fn] === undefined) throw new FluxionError(`${this.where}: Math.${fn} is not supported by the wasm engine`)
        this.host(fn, args)
    }
  }

  /** Replaces the f32x4 on the stack by its exp (Cephes expf). */
  private exp(): void {
    const c = this.c
    const x = this.tmp(), n = this.tmp(), r = this.tmp(), y = this.tmp(), ni = this.tmp(), n1 = this.tmp()
    // clamp: beyond [−104, 89] the result is 0 or ∞ anyway; NaN stays NaN
    c.f32x4Const(89).f32x4Min().f32x4Const(-104).f32x4Max().tee(x)
    c.f32x4Const(Math.LOG2E).f32x4Mul().f32x4Nearest().set(n)
    c.get(x).get(n).f32x4Const(0.693359375).f32x4Mul().f32x4Sub().get(n).f32x4Const(-2.12194440e-4).f32x4Mul().f32x4Sub().set(r)
    c.f32x4Const(1.9875691500e-4)
    for (const k of [1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]) c.get(r).f32x4Mul().f32x4Const(k).f32x4Add()
    c.get(r).f32x4Mul().get(r).f32x4Mul().get(r).f32x4Add().f32x4Const(1).f32x4Add().set(y)
    // 2^n as 2^n1 · 2^(n − n1), both factors normal floats for n in [−150, 128]
    c.get(n).i32x4TruncSatF32x4S().tee(ni).i32c(1).i32x4ShrS().set(n1)
    c.get(y)
    c.get(n1).i32x4Const(127).i32x4Add().i32c(23).i32x4Shl().f32x4Mul()
    c.get(ni).get(n1).i32x4Sub().i32x4Const(127).i32x4Add().i32c(23).i32x4Shl().f32x4Mul()
  }

  /** Replaces the f32x4 on the stack by its natural log (Cephes logf). */
  private log(): void {
    const c = this.c
    const x = this.tmp(), sub = this.tmp(), xs = this.tmp(), e = this.tmp(), m = this.tmp(), lt = this.tmp(), z = this.tmp(), fe = this.tmp(), y = this.tmp()
    c.set(x)
    // subnormal inputs: scale by 2^23 first
    c.get(x).f32x4Const(1.17549435e-38).f32x4Lt().set(sub)
    c.get(x).f32x4Const(8388608).f32x4Mul().get(x).get(sub).bitselect().set(xs)
    // x = m · 2^e with m in [0.5, 1)
    c.get(xs).i32c(23).i32x4ShrU().i32x4Const(126).i32x4Sub().i32x4Const(-23).i32x4Const(0).get(sub).bitselect().i32x4Add().set(e)
    c.get(xs).i32x4Const(0x007fffff).v128And().i32x4Const(f32Bits(0.5)).v128Or().set(m)
    c.get(m).f32x4Const(0.707106781186547524).f32x4Lt().set(lt)
    c.get(e).get(lt).i32x4Add().set(e) // a true lane is −1
    c.get(m).get(m).f32x4Add().f32x4Const(1).f32x4Sub().get(m).f32x4Const(1).f32x4Sub().get(lt).bitselect().set(m)
    c.get(m).get(m).f32x4Mul().set(z)
    c.f32x4Const(7.0376836292e-2)
    for (const k of [-1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]) {
      c.get(m).f32x4Mul().f32x4Const(k).f32x4Add()
    }
    c.get(m).f32x4Mul().get(z).f32x4Mul().set(y)
    c.get(e).f32x4ConvertI32x4S().set(fe)
    c.get(y).get(fe).f32x4Const(-2.12194440e-4).f32x4Mul().f32x4Add().get(z).f32x4Const(-0.5).f32x4Mul().f32x4Add()
    c.get(m).f32x4Add().get(fe).f32x4Const(0.693359375).f32x4Mul().f32x4Add()
    // special values: log(0) = −∞, log(x < 0) = NaN, log(∞) = ∞, log(NaN) = NaN
    c.set(y)
    c.f32x4Const(-Infinity).get(y).get(x).f32x4Const(0).f32x4Eq().bitselect().set(y)
    c.f32x4Const(Infinity).get(y).get(x).f32x4Const(Infinity).f32x4Eq().bitselect().set(y)
    c.f32x4Const(NaN).get(y).get(x).f32x4Const(0).f32x4Lt().get(x).get(x).f32x4Ne().v128Or().bitselect()
  }
}

type Role = { readonly kind: 'same' } | { readonly kind: 'splat' } | { readonly kind: 'row' } | { readonly kind: 'inner' }

/** The loop shape of a layout: `rows` when every broadcast read shares one inner length. */
const planLoop = (reads: readonly Read[]): { shape: LoopShape; inner?: number; roles: Role[] } => {
  let inner: number | undefined
  let ok = true
  const roles: Role[] = reads.map((r) => {
    if (r.kind === 'same') return { kind: 'same' }
    if (r.kind === 'mod' && r.size === 1) return { kind: 'splat' }
    const L = r.kind === 'mod' ? r.size : r.inner
    if (inner === undefined) inner = L
    else if (inner !== L) ok = false
    return r.kind === 'mod' ? { kind: 'inner' } : { kind: 'row' }
  })
  return ok ? { shape: 'rows', inner, roles } : { shape: 'gather', roles }
}

interface Body {
  readonly emit: Emitter
  readonly inVals: number[]
  readonly outVals: number[]
}

/** Declares the body's locals and returns a function emitting lets and outputs into `outVals`. */
const makeBody = (c: Code, op: ElementwiseOp, scalarParams: readonly number[]): { body: Body; run: () => void; prologue: () => void } => {
  const vars = new Map<string, number>()
  const where = `elementwise op ${op.name}`
  const inVals = op.inputs.map((name) => {
    const l = c.local(v128)
    vars.set(name, l)
    return l
  })
  const scalarVals = op.scalars.map((name) => {
    const l = c.local(v128)
    vars.set(name, l)
    return l
  })
  const lets = op.lets.map(([name, src]) => ({ name, node: parse(src, where), l: c.local(v128), hoisted: false }))
  const outs = op.outputs.map((src) => parse(src, where))
  const outVals = outs.map(() => c.local(v128))
  const emit = new Emitter(c, vars, where)
  return {
    body: { emit, inVals, outVals },
    prologue: () => {
      scalarParams.forEach((p, k) => c.get(p).f32x4Splat().set(scalarVals[k]!))
      // lets are bound before the loop too when they are invariant, so later expressions see them
      const invariantNames = new Set(op.scalars)
      const mentions = (n: Node, names: ReadonlySet<string>): boolean =>
        n.k === 'var' ? !names.has(n.name) : n.k === 'num' ? false : n.k === 'unary' ? mentions(n.a, names) : n.k === 'bin' ? mentions(n.a, names) || mentions(n.b, names) : n.k === 'cond' ? mentions(n.c, names) || mentions(n.a, names) || mentions(n.b, names) : n.args.some((a) => mentions(a, names))
      for (const l of lets) {
        if (!mentions(l.node, invariantNames)) {
          invariantNames.add(l.name)
          emit.num(l.node)
          c.set(l.l)
          vars.set(l.name, l.l)
          l.hoisted = true
        }
      }
      emit.hoist([...lets.filter((l) => !l.hoisted).map((l) => l.node), ...outs], invariantNames)
    },
    run: () => {
      for (const { name, node, l, hoisted } of lets) {
        if (hoisted) continue
        emit.num(node)
        c.set(l)
        vars.set(name, l)
      }
      outs.forEach((node, k) => {
        emit.num(node)
        c.set(outVals[k]!)
      })
    },
  }
}

export type Sink = 'store' | 'reduce'

/**
 * Compiles `op` for one layout. The exported function `k` takes
 * `(rows, innerBytes, ...inputPtrs, ...outputPtrs | resultPtr, ...scalars)` for the `rows` shape and
 * `(n, ...inputPtrs, ...outputPtrs | resultPtr, ...scalars)` for `gather`. With `reduce`, it writes
 * each output's sum (float32 values accumulated in float64) to resultPtr + 8k instead of storing.
 */
export const compileElementwise = (op: ElementwiseOp, reads: readonly Read[], sink: Sink): KernelSource => {
  const plan = planLoop(reads)
  const nIn = op.inputs.length
  const nOut = op.outputs.length
  const lead = plan.shape === 'rows' ? 2 : 1
  const ptrParams = sink === 'store' ? nIn + nOut : nIn + 1
  const params = [...Array(lead + ptrParams).fill(i32), ...op.scalars.map(() => f32)]
  const c = new Code(params.length)
  const inPtr = (k: number) => lead + k
  const outPtr = (k: number) => lead + nIn + k
  const resPtr = lead + nIn
  const scalarParams = op.scalars.map((_, k) => lead + ptrParams + k)
  const { body, run, prologue } = makeBody(c, op, scalarParams)
  const accs = sink === 'reduce' ? op.outputs.map(() => c.local(v128)) : []
  const count = c.local(i32) // valid lanes of a partial vector
  const laneMask = c.local(v128)

  const reduceInto = (partial: boolean) => {
    body.outVals.forEach((o, k) => {
      if (partial) c.get(o).f32x4Const(0).get(laneMask).bitselect().set(o)
      c.get(accs[k]!).get(o).f64x2PromoteLowF32x4().f64x2Add()
      c.get(o).get(o).shuffle([8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7]).f64x2PromoteLowF32x4().f64x2Add().set(accs[k]!)
    })
  }
  /** Loads lanes [0, count) of input k from addresses addr(k, lane) into inVals[k] (others 0). */
  const gatherLanes = (k: number, addr: (lane: number) => void) => {
    const v = body.inVals[k]!
    c.f32x4Const(0).set(v)
    c.block()
    for (let lane = 0; lane < 4; lane++) {
      if (lane > 0) c.get(count).i32c(lane).i32LeU().brIf(0)
      c.get(v)
      addr(lane)
      c.f32Load().f32x4ReplaceLane(lane).set(v)
    }
    c.end()
  }
  const scatterLanes = (k: number, addr: (lane: number) => void) => {
    c.block()
    for (let lane = 0; lane < 4; lane++) {
      if (lane > 0) c.get(count).i32c(lane).i32LeU().brIf(0)
      addr(lane)
      c.get(body.outVals[k]!).f32x4ExtractLane(lane).f32Store()
    }
    c.end()
  }
  const setLaneMask = () => c.get(count).i32x4Splat().v128Const([0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]).i32x4GtS().set(laneMask)

  prologue()
  for (const a of accs) c.f64c(0).f64x2Splat().set(a)
  plan.roles.forEach((r, k) => {
    if (r.kind === 'splat') c.get(inPtr(k)).load32Splat().set(body.inVals[k]!)
  })

  if (plan.shape === 'rows') {
    const rows = 0
    const innerBytes = 1
    const row = c.local(i32)
    const rowBase = c.local(i32)
    const j = c.local(i32)
    const rowPtrs = [...Array(nIn + nOut)].map(() => c.local(i32))
    const sameIn = plan.roles.map((r, k) => (r.kind === 'same' ? k : -1)).filter((k) => k >= 0)
    c.block().loop()
    c.get(row).get(rows).i32GeU().brIf(1)
    plan.roles.forEach((r, k) => {
      if (r.kind === 'row') c.get(inPtr(k)).get(row).i32c(2).i32Shl().i32Add().load32Splat().set(body.inVals[k]!)
    })
    for (const k of sameIn) c.get(inPtr(k)).get(rowBase).i32Add().set(rowPtrs[k]!)
    if (sink === 'store') for (let k = 0; k < nOut; k++) c.get(outPtr(k)).get(rowBase).i32Add().set(rowPtrs[nIn + k]!)
    const base = (k: number) => (plan.roles[k]!.kind === 'same' ? rowPtrs[k]! : inPtr(k))
    c.i32c(0).set(j)
    // full vectors
    c.block().loop()
    c.get(j).i32c(16).i32Add().get(innerBytes).i32GtU().brIf(1)
    plan.roles.forEach((r, k) => {
      if (r.kind === 'same' || r.kind === 'inner') c.get(base(k)).get(j).i32Add().v128Load().set(body.inVals[k]!)
    })
    run()
    if (sink === 'store') for (let k = 0; k < nOut; k++) c.get(rowPtrs[nIn + k]!).get(j).i32Add().get(body.outVals[k]!).v128Store()
    else reduceInto(false)
    c.get(j).i32c(16).i32Add().set(j).br(0)
    c.end().end()
    // the row's last 1–3 elements
    c.get(j).get(innerBytes).i32LtU().if_()
    c.get(innerBytes).get(j).i32Sub().i32c(2).i32ShrU().set(count)
    plan.roles.forEach((r, k) => {
      if (r.kind === 'same' || r.kind === 'inner') gatherLanes(k, (lane) => c.get(base(k)).get(j).i32Add().i32c(4 * lane).i32Add())
    })
    run()
    if (sink === 'store') for (let k = 0; k < nOut; k++) scatterLanes(k, (lane) => c.get(rowPtrs[nIn + k]!).get(j).i32Add().i32c(4 * lane).i32Add())
    else {
      setLaneMask()
      reduceInto(true)
    }
    c.end()
    c.get(rowBase).get(innerBytes).i32Add().set(rowBase)
    c.get(row).i32c(1).i32Add().set(row).br(0)
    c.end().end()
  } else {
    // gather: every lane computes its own index
    const n = 0
    const i = c.local(i32)
    c.block().loop()
    c.get(i).get(n).i32GeU().brIf(1)
    c.get(n).get(i).i32Sub().tee(count).i32c(4).i32GtU().if_().i32c(4).set(count).end()
    reads.forEach((r, k) => {
      if (plan.roles[k]!.kind === 'splat') return
      gatherLanes(k, (lane) => {
        c.get(inPtr(k)).get(i).i32c(lane).i32Add()
        if (r.kind === 'mod') c.i32c(r.size).i32RemU()
        else if (r.kind === 'div') c.i32c(r.inner).i32DivU()
        c.i32c(2).i32Shl().i32Add()
      })
    })
    run()
    if (sink === 'store') for (let k = 0; k < nOut; k++) scatterLanes(k, (lane) => c.get(outPtr(k)).get(i).i32c(lane).i32Add().i32c(2).i32Shl().i32Add())
    else {
      setLaneMask()
      reduceInto(true)
    }
    c.get(i).i32c(4).i32Add().set(i).br(0)
    c.end().end()
  }
  if (sink === 'reduce') {
    accs.forEach((a, k) => {
      c.get(resPtr).get(a).f64x2ExtractLane(0).get(a).f64x2ExtractLane(1).f64Add().f64Store(8 * k)
    })
  }
  const hostNames = body.emit.hostNames
  const imports: ImportDef[] = hostNames.map((key, k) => ({ name: `f${k}`, params: Array(Number(key.split('/')[1])).fill(f64), results: [f64] }))
  // host imports are numbered before the kernel, so calls emitted above (index k) are right
  const fn: FunctionDef = { params, results: [], code: c, export: 'k' }
  return {
    bytes: encodeModule([fn], imports),
    shape: plan.shape,
    inner: plan.inner,
    hostFns: hostNames.map((key) => hostFunctions[key.split('/')[0]!]!),
  }
}
