/**
 * DI token of the KeyProvider that signs reports: the service-wide KEY_PROVIDER when a module
 * provides it, else the file keys under DATA_DIR/keys/signing (the same keys checkpoints use).
 */
export const REPORT_KEY_PROVIDER = Symbol('REPORT_KEY_PROVIDER');
