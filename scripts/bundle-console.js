#!/usr/bin/env node
/**
 * Build step of `npm run build`: bundles the console's in-browser verifier (console/browser/
 * verifier-page.js, which imports libs/ledger/src/portable-verifier.ts and @noble/hashes and
 * @noble/curves) into one static ES module, console/static/verifier.js, served by the console
 * like its other static files (no inline script, no import map: the CSP allows only 'self').
 * esbuild is a devDependency; the output is a build product (git-ignored).
 */
const path = require('node:path');

let esbuild;
try {
  esbuild = require('esbuild');
} catch {
  // A work tree whose node_modules predate the dependency: the API still builds; the verifier page needs `npm install`.
  console.warn('bundle-console: esbuild is not installed (run npm install); console/static/verifier.js not built');
  process.exit(0);
}

const root = path.resolve(__dirname, '..');
esbuild.buildSync({
  entryPoints: [path.join(root, 'console', 'browser', 'verifier-page.js')],
  outfile: path.join(root, 'console', 'static', 'verifier.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
});
