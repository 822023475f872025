/**
 * Data-quality notes of the lenient-in rule (issue 21), shared by the FHIR and ATNA mappers: the
 * known deviations a mapped message had, as one flat `details.dataQuality` string of element paths
 * and fixed words (never a value), and the kinds of deviation in such a note, fit for a metric label.
 */

/** The notes as one detail of at most `maxChars` characters: whole notes only, ` ...` when some did not fit. */
export function dataQualityNote(notes: readonly string[], maxChars: number): string {
  let out = '';
  for (const note of notes) {
    const next = out ? `${out} ${note}` : note;
    if (next.length > maxChars - 4) return `${out} ...`;
    out = next;
  }
  return out;
}

/**
 * The kinds of deviation in a `details.dataQuality` note, positions dropped (`entity[3].query:plain-text`
 * → `entity.query:plain-text`, `ActiveParticipant[1]@UserIsRequestor:case` →
 * `ActiveParticipant@UserIsRequestor:case`): a bounded vocabulary, fit for a metric label.
 */
export function dataQualityDeviations(note: unknown): string[] {
  if (typeof note !== 'string') return [];
  return [...new Set(note.split(' ').filter((n) => n && n !== '...').map((n) => n.replace(/\[\d+\]/g, '')))];
}
