import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { emitYamlMapping, parseYamlMapping, type YamlValue } from '../../../src/crypto/keystore-yaml.js';
import { keystorePem, lastSerial, newKeystore, openKeystore, revokedSerials, sealKeystore, setKeystorePem } from '../../../src/crypto/keystore.js';
import { KeylimeError } from '../../../src/errors.js';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n';

const python = spawnSync('python3', ['-c', 'import yaml, cryptography'], { encoding: 'utf8' });
const havePython = python.status === 0;

function runPython(script: string, input: string): string {
  const r = spawnSync('python3', ['-c', script], { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

// What Keylime's read_private() does, restated with PyYAML and cryptography.
const PY_OPEN = `
import sys, json, yaml, base64
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
outer = yaml.load(sys.stdin.read(), Loader=yaml.SafeLoader)
key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=outer['salt'].encode('utf-8'), iterations=100000).derive(sys.argv[1].encode() if len(sys.argv) > 1 else b'default')
blob = base64.b64decode(outer['priv'])
inner = yaml.load(AESGCM(key).decrypt(blob[:16], blob[16:], None), Loader=yaml.SafeLoader)
print(json.dumps({k: (v.decode() if isinstance(v, bytes) else v) for k, v in inner.items()}))
`;

// What Keylime's write_private() produces, restated.
const PY_SEAL = `
import sys, os, yaml, base64
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
pem = sys.stdin.read().encode()
priv = {'revoked_keys': ['5', '7'], 'ca': pem, 'lastserial': 9, 'server': pem, 'future_field': 'kept'}
salt = base64.b64encode(os.urandom(32)).decode()
key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt.encode('utf-8'), iterations=100000).derive(b'default')
iv = os.urandom(16)
ct = AESGCM(key).encrypt(iv, yaml.dump(priv, Dumper=yaml.SafeDumper).encode('utf-8'), None)
print(yaml.dump({'salt': salt, 'priv': base64.b64encode(iv + ct)}, Dumper=yaml.SafeDumper), end='')
`;

describe('CA keystore (private.yml)', () => {
  it('round-trips entries, serial and revoked list', async () => {
    const ks = newKeystore();
    setKeystorePem(ks, 'ca', PEM);
    ks.entries.set('lastserial', 3);
    const text = await sealKeystore(ks);
    expect(text).toMatch(/^priv: !!binary \|\n( {2}[A-Za-z0-9+/=]{1,76}\n)+salt: \S+\n$/);
    const back = await openKeystore(text);
    expect(keystorePem(back, 'ca')).toBe(PEM);
    expect(lastSerial(back)).toBe(3);
    expect(revokedSerials(back)).toEqual([]);
  });

  it('refuses a wrong password with an error, not garbage', async () => {
    const ks = newKeystore();
    setKeystorePem(ks, 'ca', PEM);
    const text = await sealKeystore(ks, 'secret');
    await expect(openKeystore(text, 'default')).rejects.toMatchObject({ code: 'unauthorized' });
    expect(keystorePem(await openKeystore(text, 'secret'), 'ca')).toBe(PEM);
  });

  it.skipIf(!havePython)('opens with PyYAML + cryptography exactly as Keylime reads it (bytes stay bytes)', async () => {
    const ks = newKeystore();
    setKeystorePem(ks, 'ca', PEM);
    setKeystorePem(ks, 'client', PEM);
    ks.entries.set('lastserial', 3);
    const out = JSON.parse(runPython(PY_OPEN, await sealKeystore(ks)));
    expect(out).toEqual({ ca: PEM, client: PEM, lastserial: 3, revoked_keys: [] });
    // bytes, not str: Keylime calls load_pem_private_key(priv['ca']), which needs bytes.
    const types = runPython(PY_OPEN.replace(/print\(.*\)\n$/, "print(type(inner['ca']).__name__)\n"), await sealKeystore(ks));
    expect(types.trim()).toBe('bytes');
  });

  it.skipIf(!havePython)('reads a keystore written the way Keylime writes it, keeping unknown fields', async () => {
    const text = runPython(PY_SEAL, PEM);
    const ks = await openKeystore(text);
    expect(keystorePem(ks, 'ca')).toBe(PEM);
    expect(keystorePem(ks, 'server')).toBe(PEM);
    expect(lastSerial(ks)).toBe(9);
    expect(revokedSerials(ks)).toEqual(['5', '7']);
    expect(ks.entries.get('future_field')).toBe('kept');
    // and what we write back is still readable by Keylime, unknown field included
    ks.entries.set('lastserial', 10);
    const out = JSON.parse(runPython(PY_OPEN, await sealKeystore(ks)));
    expect(out).toMatchObject({ lastserial: 10, revoked_keys: ['5', '7'], future_field: 'kept', ca: PEM });
  });
});

describe('keystore YAML subset', () => {
  it('writes what PyYAML writes for the keystore shapes (expected text is PyYAML 6 output)', () => {
    const map = new Map<string, YamlValue>([
      ['revoked_keys', ['5', '12']],
      ['lastserial', 3],
      ['ca', Buffer.from('x'.repeat(60))],
      ['true', 'yes'],
      ['salt', 'AbC+/='],
    ]);
    expect(emitYamlMapping(map)).toBe(
      'ca: !!binary |\n' +
        '  eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\n' +
        '  eHh4\n' +
        'lastserial: 3\n' +
        "revoked_keys:\n- '5'\n- '12'\n" +
        'salt: AbC+/=\n' +
        "'true': 'yes'\n",
    );
    expect(parseYamlMapping(emitYamlMapping(map))).toEqual(map);
  });

  it('reads the other spellings PyYAML may use', () => {
    const m = parseYamlMapping(
      "---\nlist: ['1', \"2\", 3]\nempty: []\nnothing:\nquoted: 'it''s'\ndq: \"a\\tb\\u00e9\"\nblock: |\n  line1\n  line2\n" +
        'indented:\n  - a\n  - b\nbin: !!binary |-\n  aGk=\n',
    );
    expect(m.get('list')).toEqual(['1', '2', 3]);
    expect(m.get('empty')).toEqual([]);
    expect(m.get('nothing')).toBeNull();
    expect(m.get('quoted')).toBe("it's");
    expect(m.get('dq')).toBe('a\tbé');
    expect(m.get('block')).toBe('line1\nline2\n');
    expect(m.get('indented')).toEqual(['a', 'b']);
    expect(m.get('bin')).toEqual(Buffer.from('hi'));
  });

  it('rejects constructs outside the subset instead of guessing', () => {
    for (const bad of ['a:\n  b: c\n', 'a: b: c\n', 'a: 1\na: 2\n', '  a: 1\n', 'a: !!python/object x\n', 'a: {b: 1}\n', "a: 'open\n", 'a: !!binary |\n  ***\n', 'a: [1, \n']) {
      expect(() => parseYamlMapping(bad), bad).toThrow(KeylimeError);
    }
  });
});

describe('keystore parsing never fails with anything but KeylimeError', () => {
  const onlyKeylimeErrors = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      if (!(e instanceof KeylimeError)) throw e;
    }
  };

  it('random bytes, every prefix and bit flips of a real file', async () => {
    const ks = newKeystore();
    setKeystorePem(ks, 'ca', PEM);
    ks.entries.set('revoked_keys', ['4']);
    const text = await sealKeystore(ks);
    const inner = emitYamlMapping(ks.entries);
    for (let i = 0; i < 2000; i++) onlyKeylimeErrors(() => parseYamlMapping(randomBytes(1 + (i % 200)).toString('latin1')));
    for (const sample of [text, inner]) {
      for (let n = 0; n <= sample.length; n++) onlyKeylimeErrors(() => parseYamlMapping(sample.slice(0, n)));
      const bytes = Buffer.from(sample, 'latin1');
      for (let bit = 0; bit < bytes.length * 8; bit += 7) {
        const flipped = Buffer.from(bytes);
        flipped[bit >> 3] = flipped[bit >> 3]! ^ (1 << (bit & 7));
        onlyKeylimeErrors(() => parseYamlMapping(flipped.toString('latin1')));
      }
    }
  });

  it('pathological inputs finish quickly (no backtracking blow-ups, no stack overflows)', () => {
    const big = 200_000;
    const inputs = [
      `a: x${' '.repeat(big)}y\n`,
      `a: [${Array.from({ length: big / 4 }, (_, i) => i).join(', ')}]\n`,
      `a: [${"'x', ".repeat(big / 5)}'y']\n`,
      `a: |\n${'  line\n'.repeat(big / 2)}`,
      `${'k'.repeat(big)}\n`,
      `${' '.repeat(big)}-\n`,
      `a: '${"''".repeat(big)}'\n`,
      `a: "${'\\u00e9'.repeat(big / 6)}"\n`,
      `a:${'\n- x'.repeat(big / 4)}\n`,
    ];
    for (const input of inputs) {
      const t = performance.now();
      onlyKeylimeErrors(() => parseYamlMapping(input));
      expect(performance.now() - t).toBeLessThan(1500);
    }
    expect((parseYamlMapping(inputs[1]!).get('a') as number[]).length).toBe(big / 4);
    expect(parseYamlMapping(inputs[6]!).get('a')).toBe("'".repeat(big));
  });

  it('opening damaged files rejects with a KeylimeError', async () => {
    const ks = newKeystore();
    setKeystorePem(ks, 'ca', PEM);
    const text = await sealKeystore(ks);
    const damaged = [
      '',
      'salt: x\n',
      'priv: !!binary |\n  QUJD\nsalt: x\n',
      text.replace(/salt: .*/, 'salt: other'),
      text.slice(0, text.length / 2),
      text.replace('priv: !!binary |\n  ', 'priv: !!binary |\n  A'),
      randomBytes(300).toString('latin1'),
    ];
    for (const d of damaged) await expect(openKeystore(d)).rejects.toBeInstanceOf(KeylimeError);
  });
});
