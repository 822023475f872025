/** Field-level encryption of stored events: what is stored, what comes back, and what is refused. */
import * as crypto from 'node:crypto';
import { AccessEvent } from '@app/core';
import { canonicalize } from '@app/ledger';
import type { DataKeyring } from '../field-protection.port';
import { AesGcmEnvelope, SealedFieldCodec, SealedRecordError, SealedText } from './sealed-fields';

/** In-memory keyring with rotation (the file adapter lives in the security lib). */
function memoryKeyring(): DataKeyring & { rotate(): string } {
  const keys = new Map<string, crypto.KeyObject>();
  let current = '';
  const ring = {
    rotate() {
      current = `dk-${crypto.randomBytes(8).toString('hex')}`;
      keys.set(current, crypto.createSecretKey(crypto.randomBytes(32)));
      return current;
    },
    current: () => ({ keyId: current, key: keys.get(current)! }),
    byId: (id: string) => keys.get(id),
    lists: (id: string) => keys.has(id),
  };
  ring.rotate();
  return ring;
}

function event(overrides: Partial<AccessEvent> = {}): AccessEvent {
  return {
    id: crypto.randomUUID(),
    occurredAt: '2026-03-02T10:15:00.000Z',
    category: 'data_access',
    action: 'read',
    outcome: 'success',
    actor: { id: 'dr-alice', type: 'user', role: 'physician', ip: '10.20.30.40' },
    patient: { id: 'MRN-SEALED-0001' },
    resource: { type: 'Observation', id: 'obs-1' },
    source: { system: 'ehr-gateway' },
    details: { note: 'ip 10.20.30.41 "patient":{"id":"x"}' },
    ...overrides,
  };
}

describe('SealedFieldCodec', () => {
  const keys = memoryKeyring();
  const codec = new SealedFieldCodec(keys);

  it.each([
    ['both fields', event()],
    ['no ip', event({ actor: { id: 'svc', type: 'service' } })],
    ['no patient', event({ patient: undefined })],
    ['escapes and non-ASCII', event({ actor: { id: 'dr "q" \\ é', type: 'user', ip: '2001:db8::1' }, patient: { id: 'MRN-ü-"quoted"-\\-\u2028-😀' } })],
    ['an actor id that looks like a field', event({ actor: { id: '","ip":"1.2.3.4', type: 'user', ip: '9.9.9.9' } })],
    ['a Patient resource (same identifier)', event({ resource: { type: 'Patient', id: 'MRN-SEALED-0001' } })],
    ['a Patient resource without patient or ip', event({ patient: undefined, actor: { id: 'a', type: 'user' }, resource: { type: 'patient', id: 'P-"9"' } })],
    ['a search string with every other field', event({ query: { text: 'Patient?name=smith&birthdate=1961-02-03' }, resource: { type: 'Patient', id: 'MRN-SEALED-0001' } })],
    ['a search string alone', event({ patient: undefined, actor: { id: 'svc', type: 'service' }, resource: { type: 'Patient' }, query: { text: 'GET /Patient?name="o\'brien"\r\nPID|1||MRN-ü😀' } })],
  ])('stores neither value in clear and opens back to the exact canonical bytes (%s)', (_name, e) => {
    const json = canonicalize(e);
    const { storedJson, sealed } = codec.seal(e, json);
    if (e.patient) expect(storedJson).not.toContain(JSON.stringify(e.patient.id).slice(1, -1));
    if (e.actor.ip) expect(storedJson).not.toContain(`"ip":${JSON.stringify(e.actor.ip)}`);
    if (e.patient) expect(sealed!.includes(Buffer.from(e.patient.id))).toBe(false);
    if (e.resource?.type.toLowerCase() === 'patient' && e.resource.id) expect(storedJson).toContain('"resource":{"id":"","type"');
    if (e.query) {
      expect(storedJson).toContain('"query":{"text":""}');
      expect(storedJson).not.toContain('name=');
      expect(sealed!.includes(Buffer.from('name='))).toBe(false);
    }
    expect(codec.open(storedJson, sealed)).toBe(json);
  });

  it('leaves an event without protected fields as it is', () => {
    const e = event({ patient: undefined, actor: { id: 'svc', type: 'service' } });
    const json = canonicalize(e);
    expect(codec.seal(e, json)).toEqual({ storedJson: json, sealed: null });
  });

  it('never reuses an IV', () => {
    const ivs = new Set<string>();
    const e = event();
    const json = canonicalize(e);
    for (let i = 0; i < 1000; i++) {
      const { sealed } = codec.seal(e, json);
      const ivAt = 2 + sealed![1];
      ivs.add(sealed!.subarray(ivAt, ivAt + 12).toString('hex'));
    }
    expect(ivs.size).toBe(1000);
  });

  it('refuses a flipped ciphertext byte, and a flipped byte in the clear part changes the result', () => {
    const e = event();
    const json = canonicalize(e);
    const { storedJson, sealed } = codec.seal(e, json);
    const bad = Buffer.from(sealed!);
    bad[bad.length - 1] ^= 1;
    expect(() => codec.open(storedJson, bad)).toThrow(SealedRecordError);
    expect(codec.open(storedJson.replace('"read"', '"reed"'), sealed)).not.toBe(json);
  });

  it('opens records sealed under an old key after rotation, and seals new ones with the new key', () => {
    const e = event();
    const json = canonicalize(e);
    const before = codec.seal(e, json);
    const newKey = keys.rotate();
    const after = codec.seal(e, json);
    expect(after.sealed!.toString('latin1', 2, 2 + after.sealed![1])).toBe(newKey);
    expect(codec.open(before.storedJson, before.sealed)).toBe(json);
    expect(codec.open(after.storedJson, after.sealed)).toBe(json);
  });

  it('names an unknown key id', () => {
    const e = event();
    const { storedJson, sealed } = codec.seal(e, canonicalize(e));
    const other = new SealedFieldCodec(memoryKeyring());
    expect(() => other.open(storedJson, sealed)).toThrow(expect.objectContaining({ reason: 'unknown-key' }));
  });
});

describe('SealedFieldCodec.openForVerification (one AES operation per batch, tags unchecked)', () => {
  const keys = memoryKeyring();
  const codec = new SealedFieldCodec(keys);
  const events = Array.from({ length: 300 }, (_, i) =>
    event({ patient: i % 7 === 0 ? undefined : { id: `MRN-BATCH-${i}-${'x'.repeat(i % 40)}` }, actor: { id: `u${i}`, type: 'user', ...(i % 5 ? { ip: `10.0.${i % 256}.1` } : {}) } }),
  );

  it('gives exactly what open gives, for a batch mixing keys, sealed and unsealed rows', () => {
    const rows = events.map((e, i) => {
      if (i === 150) keys.rotate();
      const json = canonicalize(e);
      const { storedJson, sealed } = codec.seal(e, json);
      return { storedJson, sealed, json };
    });
    expect(codec.openForVerification(rows)).toEqual(rows.map((r) => r.json));
    expect(rows.map((r) => codec.open(r.storedJson, r.sealed))).toEqual(rows.map((r) => r.json));
  });

  it('turns a flipped ciphertext byte into a different text (the chain hash then fails), and names a foreign key', () => {
    const e = event();
    const json = canonicalize(e);
    const { storedJson, sealed } = codec.seal(e, json);
    for (let at = 2 + sealed![1] + 12 + 16; at < sealed!.length; at++) {
      const bad = Buffer.from(sealed!);
      bad[at] ^= 0x20;
      const [opened] = codec.openForVerification([{ storedJson, sealed: bad }]);
      expect(opened).not.toBe(json);
    }
    const [foreign] = new SealedFieldCodec(memoryKeyring()).openForVerification([{ storedJson, sealed }]);
    expect(foreign).toEqual(expect.objectContaining({ reason: 'unknown-key' }));
  });
});

describe('SealedText', () => {
  it('seals whole values and reads legacy clear text as it is', () => {
    const t = new SealedText(memoryKeyring());
    const sealed = t.seal('{"patientId":"MRN-TEXT-1"}');
    expect(sealed.includes(Buffer.from('MRN-TEXT-1'))).toBe(false);
    expect(t.open(sealed)).toBe('{"patientId":"MRN-TEXT-1"}');
    expect(t.open('{"legacy":true}')).toBe('{"legacy":true}');
  });
});

describe('AesGcmEnvelope.sealMany (one AES call per group, GHASH computed here)', () => {
  it("gives envelopes that Node's AES-256-GCM opens with their tags checked, for every plaintext length 0..100 and random contents", () => {
    const keys = memoryKeyring();
    const envelope = new AesGcmEnvelope(keys);
    const plains = Array.from({ length: 101 }, (_, n) => crypto.randomBytes(n));
    plains.push(Buffer.alloc(48), Buffer.alloc(33, 0xff), crypto.randomBytes(4096));
    const sealed = envelope.sealMany(plains);
    expect(sealed).toHaveLength(plains.length);
    sealed.forEach((e, i) => expect(envelope.open(e).equals(plains[i])).toBe(true));
    // Each envelope has its own IV, and no plaintext stands in its envelope in clear.
    expect(new Set(sealed.map((e) => e.subarray(2 + e[1], 2 + e[1] + 12).toString('hex'))).size).toBe(sealed.length);
    expect(sealed[102].includes(Buffer.alloc(16))).toBe(false);
  });

  it('makes tags that fail when a ciphertext, tag or IV byte is changed', () => {
    const keys = memoryKeyring();
    const envelope = new AesGcmEnvelope(keys);
    const [e] = envelope.sealMany([Buffer.from('MRN-0001 10.1.2.3')]);
    const ivAt = 2 + e[1];
    for (const at of [ivAt, ivAt + 12, ivAt + 27, ivAt + 28, e.length - 1]) {
      const altered = Buffer.from(e);
      altered[at] ^= 0x01;
      expect(() => envelope.open(altered)).toThrow(SealedRecordError);
    }
    expect(envelope.open(e).toString()).toBe('MRN-0001 10.1.2.3');
  });

  it('seals with the current key after a rotation, and both keys open their envelopes', () => {
    const keys = memoryKeyring();
    const envelope = new AesGcmEnvelope(keys);
    const [before] = envelope.sealMany([Buffer.from('before')]);
    keys.rotate();
    const [after] = envelope.sealMany([Buffer.from('after')]);
    expect(before.subarray(2, 2 + before[1]).toString()).not.toBe(after.subarray(2, 2 + after[1]).toString());
    expect(envelope.open(before).toString()).toBe('before');
    expect(envelope.open(after).toString()).toBe('after');
  });
});
