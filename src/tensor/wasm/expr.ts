/**
 * @internal A parser for the expression subset the elementwise ops are written in (the subset
 * gpu.js compiles): number literals, names, unary `-` `+` `!`, binary `+ - * / % **`, comparisons,
 * `&&` `||`, `?:`, parentheses, `Math.<function>(...)` calls and `Math.<constant>`. The wasm
 * engine compiles the resulting tree to WebAssembly.
 */
import { FluxionError } from '../../errors.js'

export type Node =
  | { readonly k: 'num'; readonly v: number }
  | { readonly k: 'var'; readonly name: string }
  | { readonly k: 'unary'; readonly op: '-' | '!'; readonly a: Node }
  | { readonly k: 'bin'; readonly op: BinOp; readonly a: Node; readonly b: Node }
  | { readonly k: 'cond'; readonly c: Node; readonly a: Node; readonly b: Node }
  | { readonly k: 'call'; readonly fn: string; readonly args: readonly Node[] }

export type BinOp = '+' | '-' | '*' | '/' | '%' | '**' | '<' | '<=' | '>' | '>=' | '==' | '!=' | '&&' | '||'

const mathConstants: Readonly<Record<string, number>> = {
  PI: Math.PI, E: Math.E, LN2: Math.LN2, LN10: Math.LN10, LOG2E: Math.LOG2E, LOG10E: Math.LOG10E, SQRT2: Math.SQRT2, SQRT1_2: Math.SQRT1_2,
}

const tokenRe = /\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_$][A-Za-z0-9_$]*)|(===|!==|==|!=|<=|>=|&&|\|\||\*\*|[-+*/%<>!?:(),.]))/y

const tokenize = (src: string, where: string): string[] => {
  const out: string[] = []
  tokenRe.lastIndex = 0
  let pos = 0
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break
    tokenRe.lastIndex = pos
    const m = tokenRe.exec(src)
    if (!m) throw new FluxionError(`${where}: cannot parse ${JSON.stringify(src)} at ${JSON.stringify(src.slice(pos, pos + 10))}`)
    out.push(m[1] ?? m[2] ?? m[3]!)
    pos = tokenRe.lastIndex
  }
  return out
}

/** Parses one expression; `where` names the op in errors. */
export const parse = (src: string, where: string): Node => {
  const t = tokenize(src, where)
  let i = 0
  const fail = (msg: string): never => {
    throw new FluxionError(`${where}: ${msg} in ${JSON.stringify(src)}`)
  }
  const peek = () => t[i]
  const eat = (tok: string) => {
    if (t[i] !== tok) fail(`expected ${JSON.stringify(tok)}, got ${JSON.stringify(t[i] ?? 'end')}`)
    i++
  }
  const cond = (): Node => {
    const c = or()
    if (peek() !== '?') return c
    i++
    const a = cond()
    eat(':')
    const b = cond()
    return { k: 'cond', c, a, b }
  }
  const binary = (ops: readonly string[], next: () => Node, map: (s: string) => BinOp = (s) => s as BinOp) => (): Node => {
    let a = next()
    while (ops.includes(peek() ?? '')) {
      const op = map(t[i++]!)
      a = { k: 'bin', op, a, b: next() }
    }
    return a
  }
  const unary = (): Node => {
    const tok = peek()
    if (tok === '-' || tok === '!') {
      i++
      return { k: 'unary', op: tok, a: unary() }
    }
    if (tok === '+') {
      i++
      return unary()
    }
    return power()
  }
  const power = (): Node => {
    const a = primary()
    if (peek() !== '**') return a
    i++
    return { k: 'bin', op: '**', a, b: unary() }
  }
  const mul = binary(['*', '/', '%'], unary)
  const add = binary(['+', '-'], mul)
  const rel = binary(['<', '<=', '>', '>='], add)
  const eq = binary(['==', '!=', '===', '!=='], rel, (s) => (s.startsWith('!') ? '!=' : '==') as BinOp)
  const and = binary(['&&'], eq)
  const or = binary(['||'], and)
  const primary = (): Node => {
    const tok = t[i++]
    if (tok === undefined) return fail('unexpected end')
    if (tok === '(') {
      const e = cond()
      eat(')')
      return e
    }
    if (/^[\d.]/.test(tok)) return { k: 'num', v: Number(tok) }
    if (tok === 'Math') {
      eat('.')
      const member = t[i++] ?? fail('expected a Math member')
      if (peek() !== '(') {
        const v = mathConstants[member]
        return v === undefined ? fail(`Math.${member} is not a constant`) : { k: 'num', v }
      }
      i++
      const args: Node[] = []
      if (peek() !== ')') {
        args.push(cond())
        while (peek() === ',') {
          i++
          args.push(cond())
        }
      }
      eat(')')
      return { k: 'call', fn: member, args }
    }
    if (tok === 'Infinity' || tok === 'NaN') return { k: 'num', v: Number(tok) }
    if (tok === 'true' || tok === 'false') return { k: 'num', v: tok === 'true' ? 1 : 0 }
    if (/^[A-Za-z_$]/.test(tok)) return { k: 'var', name: tok }
    return fail(`unexpected ${JSON.stringify(tok)}`)
  }
  const e = cond()
  if (i !== t.length) fail(`unexpected ${JSON.stringify(t[i])}`)
  return e
}

/** Whether a node is boolean-valued in JavaScript (comparisons, `!`, and `&&`/`||`/`?:` over booleans). */
export const isBool = (n: Node): boolean => {
  switch (n.k) {
    case 'unary':
      return n.op === '!'
    case 'bin':
      if (['<', '<=', '>', '>=', '==', '!='].includes(n.op)) return true
      return (n.op === '&&' || n.op === '||') && isBool(n.a) && isBool(n.b)
    case 'cond':
      return isBool(n.a) && isBool(n.b)
    default:
      return false
  }
}
