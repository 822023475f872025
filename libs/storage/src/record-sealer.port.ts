/**
 * The RecordSealer port: seals a whole stored value at rest (an alert record, the detection
 * snapshot, a held patient id) and opens it again. SealedText (sqlite/sealed-fields.ts) implements it
 * over the data keys; stores that keep such values take it instead of the keys.
 */
export interface RecordSealer {
  seal(text: string): Buffer;
  /** A stored value: a sealed BLOB is opened; text stored before sealing existed is returned as is. */
  open(stored: Buffer | string): string;
}
