/**
 * Where the compiled form of a module a worker thread loads is (its entry, or a module its parent
 * names, such as a FieldProtectionSource). The service runs from dist/, where the .js lies beside
 * the module that asks; tests run the modules from source (ts-jest), where it does not, so the one
 * `npm run build` put at the same place under dist/ is used.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Repository root seen from a module anywhere under libs/ (or its copy under dist/libs/). */
function repositoryRoot(moduleDir: string): string {
  const at = moduleDir.lastIndexOf(`${path.sep}libs${path.sep}`);
  if (at < 0) throw new Error(`${moduleDir} is not a module directory under libs/`);
  return moduleDir.slice(0, at);
}

/** `fileName` beside `moduleDir` if it is there, else its twin under dist/. */
export function compiledWorkerFile(moduleDir: string, fileName: string): string {
  const beside = path.join(moduleDir, fileName);
  if (fs.existsSync(beside)) return beside;
  const root = repositoryRoot(moduleDir);
  return path.join(root, 'dist', path.relative(root, moduleDir), fileName);
}
