#!/usr/bin/env node
/**
 * Builds the optional native fast path of chain verification (native/chain-check: a SQLite
 * loadable extension) with node-gyp: run by npm's postinstall (so `npm ci` builds it) and by
 * `npm run build:native`. It never fails the install: when the build fails (no compiler, no Node
 * headers) it says so and verification uses the JavaScript path, which `auditctl verify` names.
 * VERIFY_NATIVE=0 skips the build.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'native', 'chain-check');
const built = path.join(dir, 'build', 'Release', 'chain_check.node');

function say(line) {
  process.stdout.write(`build-native: ${line}\n`);
}

const off = (process.env.VERIFY_NATIVE || '').trim().toLowerCase();
if (['0', 'false', 'off', 'no'].includes(off)) {
  say('skipped (VERIFY_NATIVE=0): verification will use the JavaScript path');
  process.exit(0);
}

// npm hands its own node-gyp to lifecycle scripts (npm_config_node_gyp) and puts it on PATH.
const gyp = process.env.npm_config_node_gyp;
const command = gyp ? process.execPath : 'node-gyp';
const args = [...(gyp ? [gyp] : []), 'rebuild', `--directory=${dir}`];
const started = Date.now();
const run = spawnSync(command, args, { cwd: root, encoding: 'utf8', env: process.env, shell: !gyp && process.platform === 'win32' });
const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (run.status === 0 && fs.existsSync(built)) {
  say(`built ${path.relative(root, built)} in ${seconds} s: verification uses the native path`);
} else {
  const output = `${run.stdout || ''}${run.stderr || ''}${run.error ? String(run.error) : ''}`.trim().split('\n').slice(-12).join('\n');
  say(`the native build failed after ${seconds} s; verification will use the JavaScript path (nothing else changes). Last lines:\n${output}`);
}
process.exit(0);
