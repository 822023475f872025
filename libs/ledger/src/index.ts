/** Pure integrity core: canonical serialization, chain hashing and verification, RFC 9162 Merkle proofs, signed checkpoints. No I/O. */
export * from './canonical-json';
export * from './record-hash';
export * from './chain-verifier';
export * from './merkle';
export * from './checkpoint';
export * from './merkle-blocks';
export * from './range-verifier';
export * from './verification-plan';
export * from './export-record';
