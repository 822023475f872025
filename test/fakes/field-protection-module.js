/**
 * The in-memory FieldProtection double (in-memory-field-protection.ts) as a plain CommonJS module,
 * so a storage worker thread (the writer thread, which runs compiled code) can load it through a
 * FieldProtectionSource: `fieldProtection(options)` rebuilds the same protection from key material
 * passed in the options (test keys only). Patient tokens have the service's format (`ptk_` + 24
 * base32 characters of an HMAC); data keys are kept by id, the current one seals.
 */
const crypto = require('node:crypto');

const TOKEN = /^ptk_[a-z2-7]{24}$/;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A FieldProtection over these keys; `ring.current` names the sealing key. */
function build(tokenKey, keys, ring) {
  return {
    patientToken: (id) => {
      const mac = crypto.createHmac('sha256', tokenKey).update('patient-id:').update(id, 'utf8').digest();
      return 'ptk_' + [...mac.subarray(0, 24)].map((b) => BASE32[b & 31]).join('');
    },
    isPatientToken: (value) => TOKEN.test(value),
    dataKeys: {
      current: () => ({ keyId: ring.current, key: keys.get(ring.current) }),
      byId: (keyId) => keys.get(keyId),
      lists: (keyId) => keys.has(keyId),
    },
  };
}

/** FieldProtectionModule: options `tokenKey` (base64), `dataKeys` (JSON object of id -> base64 key), `current`. */
function fieldProtection(options) {
  const keys = new Map(Object.entries(JSON.parse(options.dataKeys)).map(([id, raw]) => [id, crypto.createSecretKey(Buffer.from(raw, 'base64'))]));
  return build(Buffer.from(options.tokenKey, 'base64'), keys, { current: options.current });
}

module.exports = { build, fieldProtection };
