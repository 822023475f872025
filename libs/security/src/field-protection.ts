/**
 * Builds the field protection storage needs (its `FieldProtection` port, field-protection.port.ts):
 * patient tokens from the tokenization key, and AES-256 data keys from the data keyring, both under
 * DATA_DIR/keys unless configured elsewhere. The service, `auditctl` and benchmarks all call this, so
 * every process that opens a data dir protects and reads its records the same way.
 */
import type { AppConfig } from '@app/core';
import * as path from 'node:path';
import type { FieldProtection, FieldProtectionSource } from '@app/storage/field-protection.port';
import { compiledWorkerFile } from '@app/storage/compiled-worker';
import { SealedText } from '@app/storage/sqlite/sealed-fields';
import { FileDataKeyProvider } from './data-key-provider';
import { DisplayPseudonymizer } from './display-pseudonyms';
import { FileTokenizationKeyProvider, PatientTokenizer, isPatientToken } from './patient-tokenizer';

export type KeyLocations = Pick<AppConfig, 'dataDir'> & Partial<Pick<AppConfig, 'dataKeysDir' | 'tokenizationKeyFile'>>;

export interface EmbeddedFieldProtection {
  patientToken(patientId: string): string;
  isPatientToken(value: string): boolean;
  dataKeys: FileDataKeyProvider;
  tokenizer: PatientTokenizer;
  /** The tokenization key's bytes (a copy to zero), for the native verifier (FieldProtection.patientTokenKey). */
  patientTokenKey(): Buffer;
}

export function patientTokenizerFor(config: KeyLocations): PatientTokenizer {
  return new PatientTokenizer(FileTokenizationKeyProvider.forDataDir(config.dataDir, config.tokenizationKeyFile));
}

/** Actor pseudonyms of display-only agents, under the same tokenization key (display-pseudonyms.ts). */
export function displayPseudonymizerFor(config: KeyLocations): DisplayPseudonymizer {
  return new DisplayPseudonymizer(FileTokenizationKeyProvider.forDataDir(config.dataDir, config.tokenizationKeyFile));
}

/**
 * Seals whole values other embedded stores keep with the same data keys (alert records and the
 * detection snapshot carry patient ids and IPs too).
 */
export function embeddedTextSealer(config: KeyLocations): SealedText {
  return new SealedText(FileDataKeyProvider.forDataDir(config.dataDir, config.dataKeysDir));
}

export function embeddedFieldProtection(config: KeyLocations): EmbeddedFieldProtection {
  const tokenizationKey = FileTokenizationKeyProvider.forDataDir(config.dataDir, config.tokenizationKeyFile);
  const tokenizer = new PatientTokenizer(tokenizationKey);
  const dataKeys = FileDataKeyProvider.forDataDir(config.dataDir, config.dataKeysDir);
  return {
    patientToken: (id) => tokenizer.token(id),
    isPatientToken,
    dataKeys,
    tokenizer,
    patientTokenKey: () => tokenizationKey.tokenizationKey().export(),
  };
}

/** This module as a FieldProtectionModule: what a storage worker thread loads (see embeddedFieldProtectionSource). */
export function fieldProtection(options: Record<string, string | undefined>): FieldProtection {
  if (!options.dataDir) throw new Error('field protection needs the data dir');
  return embeddedFieldProtection({ dataDir: options.dataDir, dataKeysDir: options.dataKeysDir, tokenizationKeyFile: options.tokenizationKeyFile });
}

/** Names this module and the key locations, so a storage worker thread builds the same field protection. */
export function embeddedFieldProtectionSource(config: KeyLocations): FieldProtectionSource {
  return {
    module: compiledWorkerFile(__dirname, `${path.basename(__filename, path.extname(__filename))}.js`),
    options: { dataDir: config.dataDir, dataKeysDir: config.dataKeysDir, tokenizationKeyFile: config.tokenizationKeyFile },
  };
}
