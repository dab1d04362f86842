// `npm run build` and the `prepare` step: compiles src/ and laws/ into dist/ with tsc.
// npm runs `prepare` wherever the package is installed from source: after `npm install` in a clone,
// for a git URL (with the devDependencies installed), and for a local folder, where npm installs
// none of the folder's own dependencies. In that last case the toolchain is installed here first,
// so that `npm install ../fluxion` works without a manual step.
import { execFileSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const npm = process.env.npm_execpath
if (!existsSync(tsc)) {
  console.log('fluxion: installing the build toolchain (this folder has no node_modules yet)')
  const args = ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--no-save']
  if (npm && npm.endsWith('.js')) execFileSync(process.execPath, [npm, ...args], { cwd: root, stdio: 'inherit' })
  else execFileSync('npm', args, { cwd: root, stdio: 'inherit' })
}
rmSync(join(root, 'dist'), { recursive: true, force: true })
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' })
