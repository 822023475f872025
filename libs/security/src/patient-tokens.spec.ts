/** Patient tokens, data keys and who sees what: the key files, determinism, rotation, presentation. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccessEvent, AppConfig } from '@app/core';
import { FileDataKeyProvider } from './data-key-provider';
import { FileTokenizationKeyProvider, PatientTokenizer, isPatientToken } from './patient-tokenizer';
import { PatientIdentifiers, canSeePatientIds, presentPatientIdWith } from './patient-identifiers.service';
import { scopesForRole } from './scopes';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'keys-spec-'));
}

describe('PatientTokenizer', () => {
  const dir = tmp();
  const tokenizer = new PatientTokenizer(FileTokenizationKeyProvider.forDataDir(dir));

  it('gives the same patient the same token, in the ptk_ format, and different patients different tokens', () => {
    const a = tokenizer.token('MRN-0001');
    expect(a).toMatch(/^ptk_[a-z2-7]{24}$/);
    expect(isPatientToken(a)).toBe(true);
    expect(tokenizer.token('MRN-0001')).toBe(a);
    expect(new PatientTokenizer(FileTokenizationKeyProvider.forDataDir(dir)).token('MRN-0001')).toBe(a);
    expect(tokenizer.token('MRN-0002')).not.toBe(a);
  });

  it('keeps its key in DATA_DIR/keys/tokenization.key (0600); another key gives other tokens', () => {
    const file = path.join(dir, 'keys', 'tokenization.key');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(new PatientTokenizer(FileTokenizationKeyProvider.forDataDir(tmp())).token('MRN-0001')).not.toBe(tokenizer.token('MRN-0001'));
  });
});

describe('FileDataKeyProvider', () => {
  it('creates a key on first use, rotates to a new one, and keeps the old one for decryption', () => {
    const dir = tmp();
    const p = FileDataKeyProvider.forDataDir(dir);
    expect(p.lists('dk-0000000000000000')).toBeUndefined();
    const first = p.current();
    expect(first.keyId).toMatch(/^dk-[0-9a-f]{16}$/);
    const second = p.rotate();
    expect(second.keyId).not.toBe(first.keyId);
    const reopened = FileDataKeyProvider.forDataDir(dir);
    expect(reopened.current().keyId).toBe(second.keyId);
    expect(reopened.byId(first.keyId)).toBeDefined();
    expect(reopened.lists(first.keyId)).toBe(true);
    expect(reopened.lists('dk-0000000000000000')).toBe(false);
    expect(reopened.list().map((k) => [k.keyId, Boolean(k.retiredAt)])).toEqual([
      [first.keyId, true],
      [second.keyId, false],
    ]);
    for (const f of fs.readdirSync(path.join(dir, 'keys', 'data'))) expect(fs.statSync(path.join(dir, 'keys', 'data', f)).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(path.join(dir, 'keys', 'data', 'keyring.json'), 'utf8')).not.toMatch(/[A-Za-z0-9+/]{43}=/);
  });
});

describe('presentPatientId', () => {
  const tokenizer = new PatientTokenizer(FileTokenizationKeyProvider.forDataDir(tmp()));
  const analyst = { scopes: scopesForRole('soc_analyst') };
  const compliance = { scopes: scopesForRole('compliance_officer') };

  it('shows real ids to compliance (events:identified) and tokens to everyone else, failing closed', () => {
    expect(canSeePatientIds(compliance)).toBe(true);
    expect(presentPatientIdWith(tokenizer, compliance, 'MRN-7')).toBe('MRN-7');
    expect(presentPatientIdWith(tokenizer, analyst, 'MRN-7')).toBe(tokenizer.token('MRN-7'));
    expect(presentPatientIdWith(tokenizer, { scopes: scopesForRole('auditor') }, 'MRN-7')).toBe(tokenizer.token('MRN-7'));
    expect(presentPatientIdWith(tokenizer, undefined, 'MRN-7')).toBe(tokenizer.token('MRN-7'));
    // A token is never tokenized again.
    expect(presentPatientIdWith(tokenizer, analyst, tokenizer.token('MRN-7'))).toBe(tokenizer.token('MRN-7'));
  });

  it('tokenizes patient.id and the id of a Patient resource in events, leaving the stored event alone', () => {
    const patients = new PatientIdentifiers({ dataDir: tmp() } as AppConfig);
    const e = { id: 'x', patient: { id: 'MRN-8' }, resource: { type: 'Patient', id: 'MRN-8' } } as AccessEvent;
    const shown = patients.presentEvent(analyst, e);
    expect(shown.patient!.id).toBe(patients.token('MRN-8'));
    expect(shown.resource!.id).toBe(patients.token('MRN-8'));
    expect(e.patient!.id).toBe('MRN-8');
    expect(patients.presentEvent(compliance, e)).toBe(e);
    const observation = { id: 'y', resource: { type: 'Observation', id: 'obs-1' } } as AccessEvent;
    expect(patients.presentEvent(analyst, observation).resource!.id).toBe('obs-1');
  });
});
