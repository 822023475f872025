/**
 * The FieldProtection port: the keys with which storage adapters protect records at rest (patient
 * tokens for the index, AES-256 data keys for the sealed fields). Declared here, in storage, and
 * implemented by the security lib from DATA_DIR/keys (embeddedFieldProtection), so storage never
 * imports security.
 */
import type * as crypto from 'node:crypto';

/** AES-256 data keys by id; the current one seals, every key ever used stays available to open. */
export interface DataKeyring {
  current(): { keyId: string; key: crypto.KeyObject };
  /** The key with this id, or undefined if it is not (or no longer) available. */
  byId(keyId: string): crypto.KeyObject | undefined;
  /**
   * Whether the keyring lists this id (true even when its key file is missing); undefined when
   * there is no keyring at all. Tells a tampered key id (not listed) from missing key material.
   */
  lists(keyId: string): boolean | undefined;
}

/** What the embedded store needs to protect records at rest (built from DATA_DIR/keys by the security lib). */
export interface FieldProtection {
  /** Keyed-HMAC token of a patient id: what the `patient_id` index column holds. Deterministic. */
  patientToken(patientId: string): string;
  /** True when `value` has the token format (a `patient` filter given as a token). */
  isPatientToken(value: string): boolean;
  dataKeys: DataKeyring;
  /**
   * The raw bytes of the key `patientToken` uses (a fresh copy: the caller zeroes it), for the
   * native verifier, which then computes tokens itself (native-chain-check.ts). Optional: without
   * it the verifier asks `patientToken` for each patient it has not seen.
   */
  patientTokenKey?(): Buffer;
}

/**
 * How a worker thread of a storage adapter (the writer thread) builds the same FieldProtection as
 * the process that starts it: functions cannot be sent to a thread, so the starter names a compiled
 * module and JSON options, and the thread calls that module's `fieldProtection(options)`. The
 * security lib provides one (embeddedFieldProtectionSource); storage only loads what it is given.
 */
export interface FieldProtectionSource {
  /** Absolute path of a compiled module exporting FieldProtectionModule. */
  module: string;
  options: Record<string, string | undefined>;
}

/** What the module a FieldProtectionSource names exports. */
export interface FieldProtectionModule {
  fieldProtection(options: Record<string, string | undefined>): FieldProtection;
}

/** The FieldProtection a source describes (in the thread that needs it). */
export function loadFieldProtection(source: FieldProtectionSource): FieldProtection {
  const loaded = require(source.module) as Partial<FieldProtectionModule>;
  if (typeof loaded.fieldProtection !== 'function') throw new Error(`${source.module} does not export fieldProtection(options)`);
  return loaded.fieldProtection(source.options);
}
