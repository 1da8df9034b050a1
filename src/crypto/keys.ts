import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { invalidInput } from '../errors.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * RSA keys come from node:crypto (OpenSSL, off the main thread); node-forge's pure-JS
 * generator takes seconds for 2048 bits.
 */
export async function generateRsaKey(bits = 2048): Promise<KeyObject> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  return privateKey;
}

/** The Rust agent's default mTLS key type. */
export async function generateEcKey(curve = 'prime256v1'): Promise<KeyObject> {
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: curve });
  return privateKey;
}

export function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

export function publicKeyPem(key: KeyObject): string {
  return createPublicKey(key).export({ type: 'spki', format: 'pem' }) as string;
}

/** Read a private key PEM (PKCS#8, PKCS#1 or SEC1); a bad PEM is an input error. */
export function parsePrivateKey(pem: string, what = 'private key'): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw invalidInput(`${what} is not a readable unencrypted PEM private key: ${(e as Error).message}`);
  }
}
