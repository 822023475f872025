/** Pure integrity core: canonical serialization, chain hashing and chain verification. No I/O. */
export * from './canonical-json';
export * from './record-hash';
export * from './chain-verifier';
