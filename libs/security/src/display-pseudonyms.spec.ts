/** Actor pseudonyms of display-only agents: stable per display under one key, distinct across displays and keys, never the display. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DisplayPseudonymizer, isActorPseudonym } from './display-pseudonyms';
import { FileTokenizationKeyProvider, PatientTokenizer } from './patient-tokenizer';

describe('DisplayPseudonymizer', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'psn-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const keyFile = path.join(dir, 'tokenization.key');

  it('one display, one pseudonym (also from a new process reading the same key); other displays and keys differ', () => {
    const a = new DisplayPseudonymizer(new FileTokenizationKeyProvider(keyFile));
    const id = a.pseudonym('[203.0.X.X] Jane Roe')!;
    expect(isActorPseudonym(id)).toBe(true);
    expect(id).not.toContain('jane');
    expect(a.pseudonym('[203.0.X.X] Jane Roe')).toBe(id);
    expect(a.pseudonym('  [203.0.X.X]   Jane Roe ')).toBe(id);
    expect(new DisplayPseudonymizer(new FileTokenizationKeyProvider(keyFile)).pseudonym('[203.0.X.X] Jane Roe')).toBe(id);
    expect(a.pseudonym('[203.0.X.X] John Roe')).not.toBe(id);
    expect(new DisplayPseudonymizer(new FileTokenizationKeyProvider(path.join(dir, 'other.key'))).pseudonym('[203.0.X.X] Jane Roe')).not.toBe(id);
    expect(a.pseudonym(' \t ')).toBeUndefined();
    // Domain-separated from patient tokens under the same key.
    expect(new PatientTokenizer(new FileTokenizationKeyProvider(keyFile)).token('[203.0.X.X] Jane Roe').slice(4)).not.toBe(id.slice(4));
  });
});
