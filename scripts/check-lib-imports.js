#!/usr/bin/env node
/**
 * Which libraries a library may import, checked over the .ts files under libs/. Storage declares the
 * ports it needs (FieldProtection, RecordSealer ...) and the security lib implements them, so storage
 * never imports security, not even in its specs: the storage <-> security import loop must not come
 * back. The ledger and core are the pure bottom layers: their code imports no other library (their
 * specs may, to test with the real wiring).
 *
 * An import is `@app/<lib>...`, or a relative path that lands in another library; a relative import
 * of a file under test/ (a fake, a helper) is followed, so a spec cannot reach a forbidden library
 * through a test helper either. Prints one line per forbidden import and exits 1; silent, exit 0,
 * when there is none. `node scripts/check-lib-imports.js [root]` (default: this repository).
 */
const fs = require('node:fs');
const path = require('node:path');

/** Libraries each library may import besides itself, and whether its specs are held to it; libraries not listed are not checked. */
const ALLOWED = {
  core: { may: [], specs: false },
  ledger: { may: [], specs: false },
  storage: { may: ['core', 'ledger'], specs: true },
};

const IMPORT = /(?:\bfrom\s*|\bjest\.(?:mock|requireActual)\s*\(\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

function tsFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) return d.name === 'node_modules' || d.name === 'dist' ? [] : tsFiles(p);
    return d.name.endsWith('.ts') ? [p] : [];
  });
}

function specifiers(file) {
  const text = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  return [...text.matchAll(IMPORT)].map((m) => m[1]);
}

function resolveRelative(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base + '.ts', path.join(base, 'index.ts'), base]) if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  return null;
}

/** The libraries `file` imports, with the chain of test helpers that led there. */
function librariesOf(root, file, seen = new Set(), via = []) {
  const found = [];
  if (seen.has(file)) return found;
  seen.add(file);
  const libsDir = path.join(root, 'libs') + path.sep;
  const testDir = path.join(root, 'test') + path.sep;
  for (const spec of specifiers(file)) {
    const alias = /^@app\/([a-z-]+)/.exec(spec);
    if (alias) {
      found.push({ lib: alias[1], spec, via });
      continue;
    }
    if (!spec.startsWith('.')) continue;
    const target = resolveRelative(file, spec);
    if (!target) continue;
    if (target.startsWith(libsDir)) found.push({ lib: target.slice(libsDir.length).split(path.sep)[0], spec, via });
    else if (target.startsWith(testDir)) found.push(...librariesOf(root, target, seen, [...via, path.relative(root, target)]));
  }
  return found;
}

function check(root) {
  const problems = [];
  for (const [lib, { may: allowed, specs }] of Object.entries(ALLOWED)) {
    for (const file of tsFiles(path.join(root, 'libs', lib))) {
      if (!specs && file.endsWith('.spec.ts')) continue;
      for (const hit of librariesOf(root, file)) {
        if (hit.lib === lib || allowed.includes(hit.lib)) continue;
        const through = hit.via.length ? ` (through ${hit.via.join(' -> ')})` : '';
        problems.push(`${path.relative(root, file)}: libs/${lib} imports libs/${hit.lib} ('${hit.spec}')${through}; allowed: ${allowed.join(', ') || 'none'}`);
      }
    }
  }
  return problems;
}

if (require.main === module) {
  const problems = check(path.resolve(process.argv[2] ?? path.join(__dirname, '..')));
  for (const p of problems) console.log(p);
  process.exit(problems.length ? 1 : 0);
}

module.exports = { check, ALLOWED };
