import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  convertLegacyAllowlist,
  createRuntimePolicy,
  decodeDssePayload,
  dsseKeyid,
  emptyRuntimePolicy,
  parseExcludeList,
  parseRuntimePolicy,
  runtimePolicyChecksum,
  signDsseEnvelope,
  testImaList,
  updateRuntimePolicy,
  validateRuntimePolicy,
  verifyDsseEnvelope,
  IMA_EVENT,
} from '../../../src/ima/index.js';
import { KeylimeError } from '../../../src/errors.js';
import { bufLine, fileDigest, ngLine, sigLine } from './handbuilt.js';

const now = () => new Date(2024, 0, 2, 3, 4, 5, 678);

describe('DSSE-signed runtime policies (spec §2.7)', () => {
  const policyBytes = Buffer.from(JSON.stringify(emptyRuntimePolicy()));
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

  it('signs over the PAE with ECDSA-SHA256 and verifies with the right key', () => {
    const env = signDsseEnvelope(policyBytes, privateKey);
    expect(env.payloadType).toBe('application/vnd.keylime+json');
    expect(env.signatures[0]!.keyid).toBe(crypto.createHash('sha256').update(publicKey.export({ type: 'spki', format: 'pem' })).digest('hex'));
    expect(dsseKeyid(publicKey)).toBe(env.signatures[0]!.keyid);
    // The PAE, built here by hand, is what the signature covers.
    const pae = Buffer.concat([Buffer.from(`DSSEv1 28 application/vnd.keylime+json ${policyBytes.length} `), policyBytes]);
    expect(crypto.verify('sha256', pae, { key: publicKey, dsaEncoding: 'der' }, Buffer.from(env.signatures[0]!.sig, 'base64'))).toBe(true);
    const v = verifyDsseEnvelope(env, publicKey.export({ type: 'spki', format: 'pem' }) as string);
    expect(v.valid).toBe(true);
    expect(v.payload.equals(policyBytes)).toBe(true);
    expect(parseRuntimePolicy(JSON.stringify(env))).toEqual(emptyRuntimePolicy());
  });

  it('rejects a tampered payload, a wrong key, and non-EC keys', () => {
    const env = signDsseEnvelope(policyBytes, privateKey);
    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey;
    expect(verifyDsseEnvelope(env, other).valid).toBe(false);
    const tampered = { ...env, payload: Buffer.from(JSON.stringify({ ...emptyRuntimePolicy(), excludes: ['.*'] })).toString('base64') };
    expect(verifyDsseEnvelope(tampered, publicKey).valid).toBe(false);
    const garbledSig = { ...env, signatures: [{ keyid: 'x', sig: 'AAAA' }, ...env.signatures] };
    expect(verifyDsseEnvelope(garbledSig, publicKey).valid).toBe(true);
    const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    expect(() => verifyDsseEnvelope(env, rsa)).toThrow(KeylimeError);
    expect(() => verifyDsseEnvelope({ nope: 1 }, publicKey)).toThrow(/not a DSSE envelope/);
  });

  it('decodes payloads as hex, then strict base64, then URL-safe base64', () => {
    expect(decodeDssePayload('7b7d').toString()).toBe('{}');
    expect(decodeDssePayload('e30=').toString()).toBe('{}');
    expect(decodeDssePayload(Buffer.from('{"a":"~~~?"}').toString('base64url') + '=').toString()).toBe('{"a":"~~~?"}');
    expect(() => decodeDssePayload('abcde')).toThrow(KeylimeError);
  });

  it('the checksum is sha256 over the raw bytes (the envelope when signed)', () => {
    expect(runtimePolicyChecksum('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('runtime policy schema', () => {
  it('accepts the empty policy and lists every problem of a bad one', () => {
    expect(validateRuntimePolicy(emptyRuntimePolicy())).toEqual([]);
    const bad = { ...emptyRuntimePolicy(), digests: { '/x': ['SHA256:AB'] }, excludes: ['(a'], ima: { ignored_keyrings: [], log_hash_alg: 'md5', dm_policy: {} } } as unknown;
    const problems = validateRuntimePolicy(bad);
    expect(problems.some((p) => p.includes('digests'))).toBe(true);
    expect(problems.some((p) => p.includes('excludes'))).toBe(true);
    expect(problems.some((p) => p.includes('log_hash_alg'))).toBe(true);
    expect(problems.some((p) => p.includes('dm_policy'))).toBe(true);
    expect(() => parseRuntimePolicy('{"meta":{}}')).toThrow(/invalid runtime policy/);
    expect(() => parseRuntimePolicy('{')).toThrow(/not valid JSON/);
  });
});

describe('legacy conversion (spec §2.2)', () => {
  it('converts a flat sha*sum allow-list, %keyring: entries going to keyrings', () => {
    const a = 'a'.repeat(64);
    const text = `${a}  /usr/bin/a\n\n${'b'.repeat(40)} /usr/bin/with space\r\n${'c'.repeat(64)} %keyring:.ima\nonlyonefield\n${'d'.repeat(64)}\t/usr/bin/a\n`;
    const p = convertLegacyAllowlist(text, { now });
    expect(p.digests).toEqual({ '/usr/bin/a': [a, 'd'.repeat(64)], '/usr/bin/with space': ['b'.repeat(40)] });
    expect(p.keyrings).toEqual({ '.ima': ['c'.repeat(64)] });
    expect(p.meta).toEqual({ version: 1, generator: 3, timestamp: '2024-01-02 03:04:05.678000' });
    expect(validateRuntimePolicy(p)).toEqual([]);
  });

  it('converts a JSON allow-list (hashes -> digests, other keys kept) and refuses a runtime policy', () => {
    const legacy = { meta: { version: 5 }, hashes: { '/bin/x': ['e'.repeat(40)] }, keyrings: { '.ima': ['f'.repeat(64)] }, excludes: [] };
    const p = convertLegacyAllowlist(JSON.stringify(legacy), { now });
    expect(p.digests).toEqual(legacy.hashes);
    expect(p.keyrings).toEqual(legacy.keyrings);
    expect(p.excludes).toEqual([]);
    expect(p.meta.generator).toBe(3);
    expect(() => convertLegacyAllowlist(JSON.stringify(emptyRuntimePolicy()))).toThrow(/does not contain/);
    expect(() => convertLegacyAllowlist(JSON.stringify({ ...emptyRuntimePolicy(), digests: { '/a': ['e'.repeat(40)] } }))).toThrow(/already a runtime policy/);
  });

  it('reads exclude lists and upgrades version-0 policies', () => {
    expect(parseExcludeList('# comment\n\n  /tmp/.*  \nboot_aggregate\n')).toEqual(['/tmp/.*', 'boot_aggregate']);
    const old = { meta: { version: 0 }, digests: { '/a': ['e'.repeat(40)] }, release: 0 };
    const p = updateRuntimePolicy(old, { excludes: ['/tmp/'], now });
    expect(p.meta.generator).toBe(2);
    expect(p.digests).toEqual(old.digests);
    expect(p.excludes).toEqual(['/tmp/']);
    const key = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const withKey = updateRuntimePolicy(p as unknown as Record<string, unknown>, { verificationKeys: [key] });
    expect(JSON.parse(withKey['verification-keys']).pubkeys).toHaveLength(1);
  });
});

describe('policy tooling', () => {
  const ecKey = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' });
  const lines = [
    ngLine('sha256', fileDigest('sha256', 'boot'), 'boot_aggregate'),
    ngLine('sha256', fileDigest('sha256', 'a'), '/usr/bin/a'),
    sigLine('sha256', fileDigest('sha256', 'b'), '/usr/lib/b.so', null),
    bufLine('sha256', Buffer.from('6.1.0'), 'kernel_version'),
    bufLine('sha256', ecKey, '.ima'),
    ngLine('sha256', fileDigest('sha256', 'tmp'), '/tmp/scratch'),
  ];
  const list = lines.map((l) => l.line).join('\n') + '\n';

  it('creates a policy from a list that the same list then passes', () => {
    const { policy, skipped } = createRuntimePolicy(list, { excludes: ['/tmp/'], now });
    expect(skipped).toEqual([]);
    expect(Object.keys(policy.digests).sort()).toEqual(['/usr/bin/a', '/usr/lib/b.so', 'boot_aggregate']);
    expect(Object.keys(policy.keyrings)).toEqual(['.ima']);
    expect(Object.keys(policy['ima-buf'])).toEqual(['kernel_version']);
    expect(validateRuntimePolicy(policy)).toEqual([]);
    expect(testImaList(list, policy).failures).toEqual([]);
  });

  it('testing a changed list names the changed file', () => {
    const { policy } = createRuntimePolicy(list, { excludes: ['/tmp/'], now });
    const changed = list + ngLine('sha256', fileDigest('sha256', 'a2'), '/usr/bin/a').line + '\n';
    const r = testImaList(changed, policy);
    expect(r.failures.map((f) => [f.id, f.path, f.line])).toEqual([[IMA_EVENT.runtimePolicyHash, '/usr/bin/a', 6]]);
  });

  it('skips unparsable lines and violations, reporting them', () => {
    const { skipped } = createRuntimePolicy(`junk\n10 ${'00'.repeat(20)} ima-ng sha1:${'00'.repeat(20)} /x\n`, { now });
    expect(skipped.map((s) => s.line)).toEqual([0, 1]);
  });
});
