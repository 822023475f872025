/**
 * An independent checker of proofs and checkpoints, as an outside auditor would write it: RFC 9162
 * inclusion and consistency, Ed25519 over RFC 8785 JSON, with node:crypto and the JSON only (no project code).
 */
import { createHash, createPublicKey, verify as verifySignature } from 'node:crypto';


export const sha256 = (...parts: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();
export const leafOf = (recordHashHex: string): Buffer => sha256(Buffer.from([0]), Buffer.from(recordHashHex, 'hex'));
export const nodeOf = (l: Buffer, r: Buffer): Buffer => sha256(Buffer.from([1]), l, r);

/** RFC 9162 section 2.1.3.2. */
export function rootFromAuditPath(index: number, size: number, leaf: Buffer, auditPath: Buffer[]): Buffer | null {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of auditPath) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeOf(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else r = nodeOf(r, p);
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 ? r : null;
}

/** RFC 9162 section 2.1.4.2. */
export function consistent(m: number, n: number, root1: Buffer, root2: Buffer, proof: Buffer[]): boolean {
  if (m === n) return proof.length === 0 && root1.equals(root2);
  const nodes = (m & (m - 1)) === 0 ? [root1, ...proof] : [...proof];
  if (nodes.length === 0) return false;
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn >>= 1;
    sn >>= 1;
  }
  let fr = nodes[0];
  let sr = nodes[0];
  for (const c of nodes.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeOf(c, fr);
      sr = nodeOf(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else sr = nodeOf(sr, c);
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}

export type Json = Record<string, unknown>;

/** RFC 8785 for a flat object of strings, integers and null: sorted keys, JSON.stringify values. */
export const canonical = (o: Json): string => JSON.stringify(Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]])));

export function signatureOk(cp: Json, publicKeyPem: string): boolean {
  const { signature, ...signed } = cp;
  return verifySignature(null, Buffer.from(canonical(signed)), createPublicKey(publicKeyPem), Buffer.from(signature as string, 'base64'));
}

export const checkpointHashOf = (cp: Json): string => createHash('sha256').update(canonical(cp)).digest('hex');
export const hex = (list: unknown): Buffer[] => (list as string[]).map((h) => Buffer.from(h, 'hex'));

/** Everything an auditor checks in a proof document, with nothing but the JSON and the public key. */
export function checkProof(proof: Json, publicKeyPem: string): boolean {
  const cp = proof.checkpoint as Json;
  const root = rootFromAuditPath(proof.leafIndex as number, cp.treeSize as number, leafOf(proof.recordHash as string), hex(proof.auditPath));
  return root !== null && root.toString('hex') === cp.rootHash && signatureOk(cp, publicKeyPem) && cp.chain === proof.chain;
}
