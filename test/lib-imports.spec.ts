/**
 * The library layering scripts/check-lib-imports.js enforces: storage never imports security, specs
 * included (the import loop stays broken), and the code of the pure ledger and core imports no other
 * library. Run on this repository, and on a small tree with the loop put back, which it must refuse.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const script = path.join(__dirname, '..', 'scripts', 'check-lib-imports.js');

function run(root?: string): { status: number | null; lines: string[] } {
  const r = spawnSync(process.execPath, [script, ...(root ? [root] : [])], { encoding: 'utf8' });
  return { status: r.status, lines: r.stdout.split('\n').filter(Boolean) };
}

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lib-imports-'));
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  }
  return root;
}

describe('library imports', () => {
  it('this repository: storage imports only core and ledger; the code of ledger and core imports no library', () => {
    expect(run()).toEqual({ status: 0, lines: [] });
  });

  it('refuses storage importing security, directly, by a relative path or through a test helper', () => {
    const root = tree({
      'libs/storage/src/sqlite/worker.ts': "import { embeddedFieldProtection } from '@app/security/field-protection';\n",
      'libs/storage/src/relative.ts': "import type { Role } from '../../security/src/scopes';\n",
      'libs/storage/src/store.spec.ts': "import { helper } from '../../../test/fakes/helper';\n",
      'libs/security/src/scopes.ts': 'export type Role = string;\n',
      'test/fakes/helper.ts': "export { embeddedFieldProtection as helper } from '@app/security';\n",
      'libs/ledger/src/hash.ts': "// import { x } from '@app/storage' in a comment is not an import\nimport { createHash } from 'node:crypto';\n",
      'libs/core/src/config.ts': "import { infrastructureFor } from '@app/infrastructure';\n",
      'libs/core/src/config.spec.ts': "import { infrastructureFor } from '@app/infrastructure';\n",
      'libs/security/src/field-protection.ts': "import { SealedText } from '@app/storage/sqlite/sealed-fields';\n",
    });
    try {
      const r = run(root);
      expect(r.status).toBe(1);
      expect(r.lines.sort()).toEqual([
        "libs/core/src/config.ts: libs/core imports libs/infrastructure ('@app/infrastructure'); allowed: none",
        "libs/storage/src/relative.ts: libs/storage imports libs/security ('../../security/src/scopes'); allowed: core, ledger",
        "libs/storage/src/sqlite/worker.ts: libs/storage imports libs/security ('@app/security/field-protection'); allowed: core, ledger",
        "libs/storage/src/store.spec.ts: libs/storage imports libs/security ('@app/security') (through test/fakes/helper.ts); allowed: core, ledger",
      ]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
