/**
 * Security library: local PKI (CA, server and client certificates), roles and scopes, bearer tokens,
 * the global default-deny guard with mTLS, and the Nest module wiring them.
 */
export * from './scopes';
export * from './principal';
export * from './require-scope.decorator';
export * from './session-route';
export * from './session-authenticator.port';
export * from './duration';
export * from './integration-identity';
export * from './token.service';
export * from './auth.guard';
export * from './auth-event-sink.port';
export * from './local-pki';
export * from './security.module';
export * from './integration-settings';
export * from './token-bucket';
export * from './ingest-rate-limiter';
export * from './source-ownership.service';
export * from './source-bindings';
export * from './ingest-admission.service';
export * from './key-provider.port';
export * from './key-provider';
export * from './data-key-provider.port';
export * from './data-key-provider';
export * from './tokenization-key-provider.port';
export * from './patient-tokenizer';
export * from './display-pseudonyms';
export * from './field-protection';
export * from './patient-identifiers.service';
export * from './credential-revocations';
export * from './revocations.port';
export * from './revocation-source.port';
