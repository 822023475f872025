import { canonicalEventId, canonicalizeEventIdentifiers, canonicalPatientId, isPatientResource } from './identifiers';
import type { AccessEvent } from './access-event';

describe('canonical identifiers (issue 22)', () => {
  it('gives an event id one spelling: lower case, no urn:uuid: prefix', () => {
    const id = '0b7d2c4e-1f2a-4b3c-8d9e-0123456789ab';
    for (const spelling of [id, id.toUpperCase(), `urn:uuid:${id}`, `URN:UUID:${id.toUpperCase()}`]) expect(canonicalEventId(spelling)).toBe(id);
  });

  it('folds look-alike patient ids to one: fullwidth, zero-width, Cyrillic and Greek letters, surrounding space, FHIR references', () => {
    for (const spelling of ['MRN-4711', 'ＭＲＮ-４７１１', 'MRN-\u200b4711', '\u041cRN-4711', 'MR\u039d-4711', '\u039cRN-4711', ' MRN-4711\u2060 ', 'Patient/MRN-4711', 'fhir:Patient/MRN-4711']) {
      expect({ spelling, id: canonicalPatientId(spelling) }).toEqual({ spelling, id: 'MRN-4711' });
    }
    // Case is the source's to decide.
    expect(canonicalPatientId('mrn-4711')).toBe('mrn-4711');
  });

  it('recognizes a Patient resource however written, and rewrites it to { type: "Patient", id }', () => {
    for (const r of [{ type: 'Patient ', id: 'P1' }, { type: 'fhir:Patient', id: 'P1' }, { type: 'patient', id: 'P1' }, { type: 'Observation', id: 'Patient/P1' }]) expect(isPatientResource(r)).toBe(true);
    expect(isPatientResource({ type: 'Observation', id: 'obs-1' })).toBe(false);
    const e = { id: 'X', resource: { type: 'fhir:Patient', id: 'Patient/P\u200b1' } } as unknown as AccessEvent;
    expect(canonicalizeEventIdentifiers(e)).toMatchObject({ id: 'x', resource: { type: 'Patient', id: 'P1' } });
  });
});
