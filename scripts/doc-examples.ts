/**
 * Collects every `@example` code block (```ts fences) from the doc comments of src/ and laws/, turns
 * each into a virtual module that imports the public names it uses from 'fluxion' and 'fluxion/laws',
 * and type-checks all of them in one ts.Program with the repository's compiler options.
 * test/doc-examples.test.ts runs it; `npx tsx scripts/doc-examples.ts` prints the same report.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** One fenced block of one `@example` tag. */
export interface DocExample {
  /** Repository-relative path of the file holding the doc comment. */
  readonly file: string
  /** 1-based line of the first line of code (the line after the opening fence). */
  readonly line: number
  readonly code: string
}

/** An `@example` tag that holds no ```ts block, or a fence that never closes. */
export interface MalformedExample {
  readonly file: string
  readonly line: number
  readonly problem: string
}

export interface ExampleFailure {
  readonly example: DocExample
  readonly messages: readonly string[]
}

const tsFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name)
    if (e.isDirectory()) return tsFiles(p)
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : []
  })

/** The `/** … *\/` comments of a file, found as the leading trivia of its tokens' nodes. */
const docComments = (sf: ts.SourceFile): { readonly pos: number; readonly text: string }[] => {
  const seen = new Map<number, string>()
  const visit = (node: ts.Node): void => {
    for (const r of ts.getLeadingCommentRanges(sf.text, node.pos) ?? []) {
      const text = sf.text.slice(r.pos, r.end)
      if (r.kind === ts.SyntaxKind.MultiLineCommentTrivia && text.startsWith('/**')) seen.set(r.pos, text)
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  visit(sf.endOfFileToken)
  return [...seen].sort(([a], [b]) => a - b).map(([pos, text]) => ({ pos, text }))
}

/** A file to collect from that need not exist on disk (the test's self-check uses one). */
export interface SourceText {
  /** Repository-relative path, used in reports. */
  readonly file: string
  readonly text: string
}

/** The `@example` blocks of one file's doc comments, and its malformed `@example` tags. */
const examplesOf = ({ file, text }: SourceText, examples: DocExample[], malformed: MalformedExample[]): void => {
  const sf = ts.createSourceFile(join(root, file), text, ts.ScriptTarget.Latest, true)
  for (const comment of docComments(sf)) {
    const firstLine = sf.getLineAndCharacterOfPosition(comment.pos).line + 1
    const lines = comment.text
      .replace(/^\/\*\*/, '')
      .replace(/\*\/$/, '')
      .split('\n')
      .map((l) => l.replace(/^\s*\* ?/, ''))
    let inExample = false
    let exampleLine = 0
    let blocksInExample = 0
    let fence: { readonly line: number; readonly code: string[]; readonly isTs: boolean } | undefined
    const closeExample = () => {
      if (inExample && blocksInExample === 0) malformed.push({ file, line: exampleLine, problem: '@example without a ```ts block' })
    }
    lines.forEach((text, i) => {
      const line = firstLine + i
      if (fence) {
        if (/^\s*```\s*$/.test(text)) {
          if (fence.isTs && inExample) examples.push({ file, line: fence.line, code: fence.code.join('\n') })
          fence = undefined
        } else fence.code.push(text)
        return
      }
      const open = /^\s*```\s*(\w*)/.exec(text)
      if (open) {
        const isTs = open[1] === 'ts' || open[1] === 'typescript'
        if (inExample && isTs) blocksInExample++
        fence = { line: line + 1, code: [], isTs }
        return
      }
      const tag = /^\s*@(\w+)/.exec(text)
      if (tag) {
        closeExample()
        inExample = tag[1] === 'example'
        exampleLine = line
        blocksInExample = 0
      }
    })
    if (fence) malformed.push({ file, line: fence.line - 1, problem: 'unclosed ``` fence in a doc comment' })
    closeExample()
  }
}

/** Every `@example` block under `dirs` (repository-relative), in file and line order, then those of `extra`. */
export const collectExamples = (dirs: readonly string[] = ['src', 'laws'], extra: readonly SourceText[] = []): { examples: DocExample[]; malformed: MalformedExample[] } => {
  const examples: DocExample[] = []
  const malformed: MalformedExample[] = []
  const files = dirs.flatMap((d) => tsFiles(join(root, d))).sort()
  for (const source of [...files.map((f) => ({ file: relative(root, f), text: readFileSync(f, 'utf8') })), ...extra]) examplesOf(source, examples, malformed)
  return { examples, malformed }
}

/** The compiler options of tsconfig.json (strict, NodeNext, the 'fluxion' paths). */
export const repoCompilerOptions = (): ts.CompilerOptions => {
  const configPath = join(root, 'tsconfig.json')
  const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile)
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'))
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, root, { noEmit: true }, configPath)
  return parsed.options
}

/** The package's entry points, read from tsconfig's `paths` ('fluxion', 'fluxion/laws', …), main entry first. */
export const publicEntries = (options: ts.CompilerOptions = repoCompilerOptions()): { readonly specifier: string; readonly path: string }[] =>
  Object.entries(options.paths ?? {})
    .filter(([specifier, targets]) => (specifier === 'fluxion' || specifier.startsWith('fluxion/')) && targets[0] !== undefined)
    .map(([specifier, targets]) => ({ specifier, path: resolve(root, targets[0]!) }))
    .filter((e) => ts.sys.fileExists(e.path))
    .sort((a, b) => a.specifier.split('/').length - b.specifier.split('/').length || a.specifier.localeCompare(b.specifier))

/** The value and type names an entry point exports. */
const exportedNames = (program: ts.Program, path: string): Set<string> => {
  const sf = program.getSourceFile(path)
  if (!sf) throw new Error(`${relative(root, path)} is not part of the program`)
  const checker = program.getTypeChecker()
  const symbol = checker.getSymbolAtLocation(sf)
  return new Set(symbol ? checker.getExportsOfModule(symbol).map((s) => s.name) : [])
}

/** The names a snippet declares at its top level (these shadow the entry points' exports). */
const topLevelDeclarations = (sf: ts.SourceFile): Set<string> => {
  const names = new Set<string>()
  const addBinding = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) names.add(name.text)
    else for (const e of name.elements) if (!ts.isOmittedExpression(e)) addBinding(e.name)
  }
  for (const s of sf.statements) {
    if (ts.isVariableStatement(s)) for (const d of s.declarationList.declarations) addBinding(d.name)
    else if ((ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s) || ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s) || ts.isEnumDeclaration(s)) && s.name) names.add(s.name.text)
    else if (ts.isImportDeclaration(s) && s.importClause) {
      const c = s.importClause
      if (c.name) names.add(c.name.text)
      const b = c.namedBindings
      if (b && ts.isNamespaceImport(b)) names.add(b.name.text)
      if (b && ts.isNamedImports(b)) for (const e of b.elements) names.add(e.name.text)
    }
  }
  return names
}

const identifiers = (sf: ts.SourceFile): Set<string> => {
  const names = new Set<string>()
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node)) names.add(node.text)
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return names
}

export interface CheckResult {
  readonly examples: readonly DocExample[]
  readonly malformed: readonly MalformedExample[]
  readonly failures: readonly ExampleFailure[]
  /** Diagnostics of the extra real files checked in the same program, as `file:line: message`. */
  readonly fileDiagnostics: readonly string[]
  /** The generated module of each example, by example, for reports. */
  readonly modules: ReadonlyMap<DocExample, string>
}

/**
 * Type-checks every example (plus those of `extraSources`, and `extraFiles`: real repository files
 * such as the getting-started examples) in a single program. Each name a snippet uses without
 * declaring it is imported from the first entry point that exports it: 'fluxion', then
 * 'fluxion/gpu', 'fluxion/laws'… (for snippets under laws/ the laws entries first).
 */
export const checkExamples = (
  options: { readonly dirs?: readonly string[]; readonly extraFiles?: readonly string[]; readonly extraSources?: readonly SourceText[] } = {},
): CheckResult => {
  const { examples, malformed } = collectExamples(options.dirs, options.extraSources)
  const compilerOptions = repoCompilerOptions()
  const extra = (options.extraFiles ?? []).map((f) => join(root, f))
  const entries = publicEntries(compilerOptions)

  // A small program over the entry points gives their export lists; the checking program reuses its
  // source files through oldProgram, so src/ is parsed once.
  const host = ts.createCompilerHost(compilerOptions, true)
  const entryProgram = ts.createProgram({ rootNames: entries.map((e) => e.path), options: compilerOptions, host })
  const exportsOf = entries.map((e) => ({ ...e, names: exportedNames(entryProgram, e.path) }))

  const virtual = new Map<string, string>()
  const byPath = new Map<string, DocExample>()
  const modules = new Map<DocExample, string>()
  const headerLengths = new Map<string, number>()
  examples.forEach((ex, i) => {
    const body = ts.createSourceFile('snippet.ts', ex.code, ts.ScriptTarget.Latest, true)
    const declared = topLevelDeclarations(body)
    const used = [...identifiers(body)].filter((n) => !declared.has(n))
    // 'fluxion' first, or for a snippet under laws/ the laws entries first
    const order = ex.file.startsWith('laws/') ? [...exportsOf].sort((a, b) => Number(b.specifier.includes('/laws')) - Number(a.specifier.includes('/laws'))) : exportsOf
    const imports = new Map<string, string[]>()
    for (const n of used.sort()) {
      const from = order.find((e) => e.names.has(n))
      if (from) imports.set(from.specifier, [...(imports.get(from.specifier) ?? []), n])
    }
    const header = [...[...imports].map(([from, names]) => `import { ${names.join(', ')} } from '${from}'`), `// ${ex.file}:${ex.line}`]
    // `export {}` keeps the snippet an ES module, so top-level await type-checks (NodeNext, ES2022).
    const text = `${header.join('\n')}\n${ex.code}\nexport {}\n`
    const path = join(root, '.doc-examples', `${String(i).padStart(3, '0')}_${ex.file.replace(/[/\\.]/g, '_')}_${ex.line}.ts`)
    virtual.set(path, text)
    headerLengths.set(path, header.length)
    byPath.set(path, ex)
    modules.set(ex, text)
  })

  const checkHost: ts.CompilerHost = {
    ...host,
    fileExists: (f) => virtual.has(f) || host.fileExists(f),
    readFile: (f) => virtual.get(f) ?? host.readFile(f),
    getSourceFile: (f, lang, onError, shouldCreate) => {
      const text = virtual.get(f)
      return text === undefined ? host.getSourceFile(f, lang, onError, shouldCreate) : ts.createSourceFile(f, text, lang, true)
    },
  }
  const program = ts.createProgram({ rootNames: [...virtual.keys(), ...extra], options: compilerOptions, host: checkHost, oldProgram: entryProgram })

  const failures: ExampleFailure[] = []
  for (const [path, ex] of byPath) {
    const sf = program.getSourceFile(path)!
    const diagnostics = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]
    if (diagnostics.length === 0) continue
    const headerLines = headerLengths.get(path)!
    failures.push({
      example: ex,
      // each position mapped back to the line of the doc comment it came from
      messages: diagnostics.map((d) => {
        const message = ts.flattenDiagnosticMessageText(d.messageText, '\n  ')
        const { line, character } = sf.getLineAndCharacterOfPosition(d.start ?? 0)
        return line >= headerLines ? `${ex.file}:${ex.line + line - headerLines}:${character + 1}: ${message}` : `${ex.file}:${ex.line} (generated imports): ${message}`
      }),
    })
  }
  const fileDiagnostics = extra.flatMap((f) => {
    const sf = program.getSourceFile(f)
    if (!sf) return [`${relative(root, f)}: not found`]
    return [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)].map((d) => {
      const { line } = sf.getLineAndCharacterOfPosition(d.start ?? 0)
      return `${relative(root, f)}:${line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n  ')}`
    })
  })
  return { examples, malformed, failures, fileDiagnostics, modules }
}

/** A failure report: one paragraph per failing snippet, with its code. */
export const formatFailures = (r: CheckResult): string =>
  [
    ...r.malformed.map((m) => `${m.file}:${m.line}: ${m.problem}`),
    ...r.failures.map((f) => `${f.example.file}:${f.example.line}:\n  ${f.messages.join('\n  ')}\n${f.example.code.replace(/^/gm, '    | ')}`),
    ...r.fileDiagnostics,
  ].join('\n\n')

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now()
  const r = checkExamples()
  console.log(formatFailures(r))
  console.log(`\n${r.examples.length} examples, ${r.failures.length} failing, ${r.malformed.length} malformed (${((performance.now() - started) / 1000).toFixed(1)} s)`)
  process.exitCode = r.failures.length + r.malformed.length > 0 ? 1 : 0
}
