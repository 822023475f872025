/**
 * PHI at rest on the Kafka topic: the value of an event message carries `patient.id`, `actor.ip`,
 * `query.text` and a Patient resource's id sealed with the same data-key envelope the stores use
 * (SealedFieldCodec, sealed-fields.ts: AES-256-GCM, key id inside, so rotation works), so the
 * broker's log segments never hold them in clear.
 *
 * Message value of an event with a protected field (valid JSON, UTF-8):
 *   {"sealed":"<base64 envelope>","event":<canonical JSON with the sealed values emptied>}
 * `event` keeps the id, category and every other field readable (ordering, deduplication, the
 * message key = chain id are unchanged); opening splices the values back and gives exactly the
 * canonical bytes the chain hash covers. An event with none of the fields is sent as its canonical
 * JSON, as before, and plain canonical JSON on the topic (written before sealing existed) is still read.
 */
import type { AccessEvent } from '@app/core';
import type { DataKeyring } from '../field-protection.port';
import { SealedFieldCodec, SealedRecordError } from '../sqlite/sealed-fields';

const PREFIX = '{"sealed":"';
const MIDDLE = '","event":';

/** A bus message whose sealed fields cannot be opened (its data key is missing, or it was altered). */
export class SealedBusMessageError extends Error {
  constructor(readonly reason: 'unknown-key' | 'corrupt' | 'no-keys', readonly keyId?: string) {
    super(
      reason === 'unknown-key'
        ? `the data key ${keyId ?? '?'} of a sealed bus message is not available (DATA_KEYS_DIR, default DATA_DIR/keys/data; every instance needs the same data keys)`
        : reason === 'no-keys'
          ? 'a sealed bus message arrived but this consumer has no data keys'
          : 'a sealed bus message failed its authenticated decryption (altered or not written by this service)',
    );
    this.name = 'SealedBusMessageError';
  }
}

export class SealedBusMessages {
  readonly codec: SealedFieldCodec;

  constructor(keys: DataKeyring) {
    this.codec = new SealedFieldCodec(keys);
  }

  /** The message value for an event and its canonical JSON. */
  encode(event: AccessEvent, canonicalJson: string): string {
    const { storedJson, sealed } = this.codec.seal(event, canonicalJson);
    return sealed === null ? storedJson : `${PREFIX}${sealed.toString('base64')}${MIDDLE}${storedJson}}`;
  }

}

/** True when a message value has the sealed form. */
export function isSealedBusMessage(value: Buffer | null): boolean {
  return value !== null && value.length > PREFIX.length && value.toString('latin1', 0, PREFIX.length) === PREFIX;
}

/**
 * The canonical JSON of a message value: plain values as they are, sealed ones opened (`codec`
 * undefined: a sealed value cannot be opened). Throws SealedBusMessageError, never returns a
 * value with its protected fields emptied.
 */
export function openBusMessage(value: Buffer, codec: SealedFieldCodec | undefined): Buffer {
  if (!isSealedBusMessage(value)) return value;
  if (!codec) throw new SealedBusMessageError('no-keys');
  const text = value.toString('utf8');
  const end = text.indexOf(MIDDLE, PREFIX.length);
  if (end < 0 || !text.endsWith('}')) throw new SealedBusMessageError('corrupt');
  const sealed = Buffer.from(text.slice(PREFIX.length, end), 'base64');
  const storedJson = text.slice(end + MIDDLE.length, text.length - 1);
  try {
    return Buffer.from(codec.open(storedJson, sealed), 'utf8');
  } catch (err) {
    if (err instanceof SealedRecordError) throw new SealedBusMessageError(err.reason, err.keyId);
    throw new SealedBusMessageError('corrupt');
  }
}
