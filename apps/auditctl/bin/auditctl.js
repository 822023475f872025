#!/usr/bin/env node
// Entry point for `npx auditctl`: runs the compiled CLI from the repository's dist/ folder.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const compiled = path.resolve(__dirname, '..', '..', '..', 'dist', 'apps', 'auditctl', 'src', 'main.js');
if (!fs.existsSync(compiled)) {
  process.stderr.write('auditctl: the project is not built yet; run `npm run build` in the repository root first.\n');
  process.exit(2);
}
require(compiled);
