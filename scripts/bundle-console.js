#!/usr/bin/env node
/**
 * Build step of `npm run build`: bundles the console's in-browser verifier (console/browser/
 * verifier-page.js, which imports libs/ledger/src/portable-verifier.ts and @noble/hashes and
 * @noble/curves) into one static ES module, console/static/verifier.js, served by the console
 * like its other static files (no inline script, no import map: the CSP allows only 'self').
 * esbuild is a devDependency; the output is a build product (git-ignored).
 */
const path = require('node:path');
const esbuild = require('esbuild');

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
