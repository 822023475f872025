/**
 * Where the compiled entry of a worker thread is. The service runs from dist/, where the worker's
 * .js lies beside the module that starts it; tests run the modules from source (ts-jest), where it
 * does not, so the one `npm run build` put at the same place under dist/ is used.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Repository root seen from a module in libs/<lib>/src/<dir>/ (or its copy under dist/). */
const DEPTH_TO_ROOT = '../../../..';

/** `fileName` beside `moduleDir` if it is there, else its twin under dist/. */
export function compiledWorkerFile(moduleDir: string, fileName: string): string {
  const beside = path.join(moduleDir, fileName);
  if (fs.existsSync(beside)) return beside;
  const root = path.resolve(moduleDir, DEPTH_TO_ROOT);
  return path.join(root, 'dist', path.relative(root, moduleDir), fileName);
}
