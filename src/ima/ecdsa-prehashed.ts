/**
 * ECDSA verification over a digest the caller already has. IMA signatures sign the
 * file digest itself and node:crypto offers no "prehashed" ECDSA verify (it always
 * hashes its input), so the group arithmetic is done here with BigInt. Results are
 * memoised because a verifier sees the same signed files poll after poll.
 */
import type { KeyObject } from 'node:crypto';

interface Curve {
  p: bigint;
  a: bigint;
  n: bigint;
  gx: bigint;
  gy: bigint;
  bits: number;
}

const h = (s: string) => BigInt('0x' + s);

const CURVES: Record<string, Curve> = {
  prime256v1: {
    p: h('ffffffff00000001000000000000000000000000ffffffffffffffffffffffff'),
    a: h('ffffffff00000001000000000000000000000000fffffffffffffffffffffffc'),
    n: h('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
    gx: h('6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296'),
    gy: h('4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5'),
    bits: 256,
  },
  secp384r1: {
    p: h('fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff'),
    a: h('fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc'),
    n: h('ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973'),
    gx: h('aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7'),
    gy: h('3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f'),
    bits: 384,
  },
  secp521r1: {
    p: (1n << 521n) - 1n,
    a: (1n << 521n) - 4n,
    n: h('01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409'),
    gx: h('00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66'),
    gy: h('011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650'),
    bits: 521,
  },
  secp256k1: {
    p: h('fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f'),
    a: 0n,
    n: h('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141'),
    gx: h('79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798'),
    gy: h('483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8'),
    bits: 256,
  },
};

/** Jacobian point (X, Y, Z); Z = 0 is the point at infinity. */
type Jac = [bigint, bigint, bigint];

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function invert(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return mod(oldS, m);
}

function double(P: Jac, c: Curve): Jac {
  const [X, Y, Z] = P;
  if (Z === 0n || Y === 0n) return [0n, 1n, 0n];
  const p = c.p;
  const YY = (Y * Y) % p;
  const S = (4n * X * YY) % p;
  const ZZ = (Z * Z) % p;
  const M = c.a === 0n ? (3n * X * X) % p : (3n * X * X + c.a * ((ZZ * ZZ) % p)) % p;
  const X3 = mod(M * M - 2n * S, p);
  const Y3 = mod(M * (S - X3) - 8n * YY * YY, p);
  const Z3 = (2n * Y * Z) % p;
  return [X3, Y3, Z3];
}

function add(P: Jac, Q: Jac, c: Curve): Jac {
  if (P[2] === 0n) return Q;
  if (Q[2] === 0n) return P;
  const p = c.p;
  const [X1, Y1, Z1] = P;
  const [X2, Y2, Z2] = Q;
  const Z1Z1 = (Z1 * Z1) % p;
  const Z2Z2 = (Z2 * Z2) % p;
  const U1 = (X1 * Z2Z2) % p;
  const U2 = (X2 * Z1Z1) % p;
  const S1 = (Y1 * Z2 * Z2Z2) % p;
  const S2 = (Y2 * Z1 * Z1Z1) % p;
  const H = mod(U2 - U1, p);
  const R = mod(S2 - S1, p);
  if (H === 0n) return R === 0n ? double(P, c) : [0n, 1n, 0n];
  const HH = (H * H) % p;
  const HHH = (H * HH) % p;
  const V = (U1 * HH) % p;
  const X3 = mod(R * R - HHH - 2n * V, p);
  const Y3 = mod(R * (V - X3) - S1 * HHH, p);
  const Z3 = (Z1 * Z2 * H) % p;
  return [X3, Y3, Z3];
}

/** u1*G + u2*Q with one shared doubling chain (Shamir's trick). */
function doubleMul(u1: bigint, u2: bigint, G: Jac, Q: Jac, c: Curve): Jac {
  const GQ = add(G, Q, c);
  let R: Jac = [0n, 1n, 0n];
  const bits = Math.max(u1.toString(2).length, u2.toString(2).length);
  for (let i = bits - 1; i >= 0; i--) {
    R = double(R, c);
    const b1 = (u1 >> BigInt(i)) & 1n;
    const b2 = (u2 >> BigInt(i)) & 1n;
    if (b1 && b2) R = add(R, GQ, c);
    else if (b1) R = add(R, G, c);
    else if (b2) R = add(R, Q, c);
  }
  return R;
}

function onCurve(x: bigint, y: bigint, c: Curve): boolean {
  const b = mod(y * y - (x * x * x + c.a * x), c.p);
  // b is the curve constant; checking it is the same for G and the point suffices.
  const bG = mod(c.gy * c.gy - (c.gx * c.gx * c.gx + c.a * c.gx), c.p);
  return x < c.p && y < c.p && b === bG;
}

/** Strict DER `SEQUENCE { INTEGER r, INTEGER s }` (OpenSSL rejects non-canonical encodings). */
export function parseDerEcdsaSignature(sig: Uint8Array): { r: bigint; s: bigint } | null {
  let off = 0;
  const readLen = (): number => {
    const first = sig[off++];
    if (first === undefined) return -1;
    if (first < 0x80) return first;
    if (first === 0x81) {
      const l = sig[off++];
      return l === undefined || l < 0x80 ? -1 : l;
    }
    if (first === 0x82) {
      if (off + 2 > sig.length) return -1;
      const l = (sig[off]! << 8) | sig[off + 1]!;
      off += 2;
      return l < 0x100 ? -1 : l;
    }
    return -1;
  };
  const readInt = (): bigint | null => {
    if (sig[off++] !== 0x02) return null;
    const len = readLen();
    if (len <= 0 || off + len > sig.length) return null;
    const bytes = sig.subarray(off, off + len);
    off += len;
    if (bytes[0]! & 0x80) return null;
    if (len > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) return null;
    return BigInt('0x' + Buffer.from(bytes).toString('hex'));
  };
  if (sig[off++] !== 0x30) return null;
  const total = readLen();
  if (total < 0 || off + total !== sig.length) return null;
  const r = readInt();
  const s = readInt();
  if (r === null || s === null || off !== sig.length) return null;
  return { r, s };
}

const cache = new Map<string, boolean>();
const CACHE_LIMIT = 100_000;

function b64urlToBigint(s: string): bigint {
  return BigInt('0x' + (Buffer.from(s, 'base64url').toString('hex') || '0'));
}

const pointCache = new WeakMap<KeyObject, { curve: Curve; x: bigint; y: bigint; id: string } | null>();

function publicPoint(key: KeyObject): { curve: Curve; x: bigint; y: bigint; id: string } | null {
  let pt = pointCache.get(key);
  if (pt !== undefined) return pt;
  pt = null;
  const curveName = key.asymmetricKeyDetails?.namedCurve;
  const curve = curveName ? CURVES[curveName] : undefined;
  if (curve && key.asymmetricKeyType === 'ec') {
    const jwk = key.export({ format: 'jwk' });
    if (jwk.x && jwk.y) {
      const x = b64urlToBigint(jwk.x);
      const y = b64urlToBigint(jwk.y);
      if (onCurve(x, y, curve)) pt = { curve, x, y, id: `${curveName}:${jwk.x}:${jwk.y}` };
    }
  }
  pointCache.set(key, pt);
  return pt;
}

/** True when the curve is one this module can verify on. */
export function isSupportedEcKey(key: KeyObject): boolean {
  return publicPoint(key) !== null;
}

/**
 * Verifies a DER ECDSA signature over `digest` (used as the hash value, truncated to the
 * group order's bit length as ECDSA prescribes).
 */
export function verifyEcdsaPrehashed(key: KeyObject, digest: Uint8Array, derSignature: Uint8Array): boolean {
  const pt = publicPoint(key);
  if (!pt) return false;
  const memo = `${pt.id}|${Buffer.from(digest).toString('hex')}|${Buffer.from(derSignature).toString('hex')}`;
  const known = cache.get(memo);
  if (known !== undefined) return known;
  const ok = verifyUncached(pt.curve, pt.x, pt.y, digest, derSignature);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(memo, ok);
  return ok;
}

function verifyUncached(c: Curve, qx: bigint, qy: bigint, digest: Uint8Array, derSignature: Uint8Array): boolean {
  const rs = parseDerEcdsaSignature(derSignature);
  if (!rs) return false;
  const { r, s } = rs;
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return false;
  let e = digest.length ? BigInt('0x' + Buffer.from(digest).toString('hex')) : 0n;
  const excess = digest.length * 8 - c.bits;
  if (excess > 0) e >>= BigInt(excess);
  const w = invert(s, c.n);
  const u1 = mod(e * w, c.n);
  const u2 = mod(r * w, c.n);
  const R = doubleMul(u1, u2, [c.gx, c.gy, 1n], [qx, qy, 1n], c);
  if (R[2] === 0n) return false;
  const zInv = invert(R[2], c.p);
  const x = mod(R[0] * zInv * zInv, c.p);
  return mod(x, c.n) === r;
}
