import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SOURCE_BINDINGS_FILE, SourceBindings } from './source-bindings';

describe('SourceBindings (issue 22: source spoofing)', () => {
  const dataDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'bindings-'));

  it('binds a system to the first integration, refuses others, and keeps the binding across a restart in a 0600 file', () => {
    const dir = dataDir();
    const first = new SourceBindings({ dataDir: dir });
    expect(first.allows('lis', 'ehr-gateway')).toBe(true);
    first.bind('sample-ehr', ['ehr-gateway']);
    expect(first.allows('sample-ehr', 'ehr-gateway')).toBe(true);
    expect(first.allows('lis', 'ehr-gateway')).toBe(false);
    first.bind('lis', ['ehr-gateway', 'lab-system']); // the taken one stays taken
    const file = path.join(dir, SOURCE_BINDINGS_FILE);
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('600');

    const restarted = new SourceBindings({ dataDir: dir });
    expect(restarted.ownerOf('ehr-gateway')).toBe('sample-ehr');
    expect(restarted.ownerOf('lab-system')).toBe('lis');
    expect(restarted.allows('lis', 'ehr-gateway')).toBe(false);
  });

  it('binds nothing with SOURCE_BINDING=off, and refuses to start on a damaged file', () => {
    const dir = dataDir();
    const off = new SourceBindings({ dataDir: dir, security: { sourceBinding: 'off' } });
    off.bind('sample-ehr', ['ehr-gateway']);
    expect(off.allows('lis', 'ehr-gateway')).toBe(true);
    expect(fs.existsSync(path.join(dir, SOURCE_BINDINGS_FILE))).toBe(false);
    fs.writeFileSync(path.join(dir, SOURCE_BINDINGS_FILE), '{ not json');
    expect(() => new SourceBindings({ dataDir: dir })).toThrow(/source bindings/);
  });
});
