import { constants, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeylimeError } from '../../../src/errors.js';
import {
  GENERIC_500_MESSAGE,
  errorEnvelope,
  internalError,
  missingParameter,
  policyError,
  pythonJsonDumps,
  resourceNotFound,
  serializeEnvelope,
  successEnvelope,
  verifyEnvelopeSignature,
} from '../../../src/machines/index.js';

const now = () => 1_700_000_000_250;
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('success envelope (§1.3)', () => {
  it('has id, jsonrpc, result, time, version and versionnumber, no detail', () => {
    const { status, headers, body } = successEnvelope([1, 2], { now, versionNumber: '3.12' });
    expect(status).toBe(200);
    expect(headers).toEqual({ 'content-type': 'application/json', 'cache-control': 'no-cache' });
    expect(body).toEqual({
      id: 1,
      jsonrpc: '2.0',
      result: { status: true, value: [1, 2] },
      time: 1700000000.25,
      version: 'privacyIDEA 3.12',
      versionnumber: '3.12',
    });
  });

  it('adds detail with threadid only when details are given', () => {
    expect(successEnvelope(false, { now, detail: {} }).body.detail).toBeUndefined();
    expect(successEnvelope(false, { now, detail: { description: 'Not Implemented' }, threadId: 7 }).body.detail).toEqual({
      description: 'Not Implemented',
      threadid: 7,
    });
  });

  it('carries extra top-level members such as auth_items', () => {
    const { body } = successEnvelope(true, { now, extra: { auth_items: { offline: [] } } });
    expect(body.auth_items).toEqual({ offline: [] });
  });

  it('serialises with sorted keys', () => {
    const text = serializeEnvelope(successEnvelope({ b: 1, a: 2 }, { now }).body);
    expect(text.indexOf('"id"')).toBeLessThan(text.indexOf('"jsonrpc"'));
    expect(text).toContain('"value":{"a":2,"b":1}');
  });
});

describe('error envelope (§1.4)', () => {
  it('ParameterError: 400, 905, ERR905 prefix, detail null, no versionnumber', () => {
    const { status, body } = errorEnvelope(missingParameter('serial'), { now });
    expect(status).toBe(400);
    expect(body).toEqual({
      detail: null,
      id: 1,
      jsonrpc: '2.0',
      result: { status: false, error: { code: 905, message: 'ERR905: Missing parameter: serial' } },
      time: 1700000000.25,
      version: 'privacyIDEA 3.12',
    });
  });

  it('ResourceNotFound: 404, 601, bare message', () => {
    const { status, body } = errorEnvelope(resourceNotFound('Token with serial X does not exist.'), { now });
    expect(status).toBe(404);
    expect(body.result).toEqual({ status: false, error: { code: 601, message: 'Token with serial X does not exist.' } });
  });

  it('plain exceptions: 500, -500, the generic Flask text', () => {
    for (const e of [internalError('Incomplete tuple of machine_id and resolver_name'), new TypeError('x'), 'string']) {
      const { status, body } = errorEnvelope(e, { now });
      expect(status).toBe(500);
      expect(body.result).toEqual({ status: false, error: { code: -500, message: GENERIC_500_MESSAGE } });
    }
  });

  it('policy errors: 403, 303, with detail', () => {
    const { status, body } = errorEnvelope(policyError('no', { event_id: 'x' }), { now });
    expect(status).toBe(403);
    expect(body.detail).toEqual({ event_id: 'x' });
    expect((body.result as { error: unknown }).error).toEqual({ code: 303, message: 'no' });
  });

  it('maps other KeylimeErrors by status', () => {
    expect(errorEnvelope(new KeylimeError('not_found', 'gone'), { now }).body.result).toEqual({ status: false, error: { code: 601, message: 'gone' } });
    expect(errorEnvelope(new KeylimeError('invalid_input', 'bad'), { now }).body.result).toEqual({ status: false, error: { code: 905, message: 'ERR905: bad' } });
  });
});

describe('response signature', () => {
  it("serialises like Python's json.dumps(sort_keys=True)", () => {
    expect(pythonJsonDumps({ b: 1, a: [1.5, 'é', '\u{1F600}'], c: { z: null, y: true }, d: 'q"\\\n\u007f/' })).toBe(
      '{"a": [1.5, "\\u00e9", "\\ud83d\\ude00"], "b": 1, "c": {"y": true, "z": null}, "d": "q\\"\\\\\\n\\u007f/"}',
    );
    expect(pythonJsonDumps({ time: 1e-7, big: 1e21, n: 1700000000.123 })).toBe('{"big": 1e+21, "n": 1700000000.123, "time": 1e-07}');
  });

  it('signs RSA-PSS/SHA-256 over the sorted JSON, with the nonce included', () => {
    const { body } = successEnvelope({ ssh: [] }, { now, signingKey: privateKey, nonce: 'abc' });
    expect(body.nonce).toBe('abc');
    const signature = body.signature as string;
    expect(signature).toMatch(/^rsa_sha256_pss:[0-9a-f]{512}$/);
    const { signature: _s, ...content } = body;
    const canonical =
      '{"id": 1, "jsonrpc": "2.0", "nonce": "abc", "result": {"status": true, "value": {"ssh": []}}, ' +
      '"time": 1700000000.25, "version": "privacyIDEA 3.12", "versionnumber": "3.12"}';
    expect(pythonJsonDumps(content)).toBe(canonical);
    const ok = verify(
      'sha256',
      Buffer.from(canonical),
      { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
      Buffer.from(signature.slice('rsa_sha256_pss:'.length), 'hex'),
    );
    expect(ok).toBe(true);
    // The client-side check: parse what the server sends, then verify.
    expect(verifyEnvelopeSignature(JSON.parse(serializeEnvelope(body)), publicKey)).toBe(true);
  });

  it('detects tampering and signs error envelopes too', () => {
    const { body } = errorEnvelope(missingParameter('hostname'), { now, signingKey: privateKey });
    expect(verifyEnvelopeSignature(body, publicKey)).toBe(true);
    expect(verifyEnvelopeSignature({ ...body, time: 1 }, publicKey)).toBe(false);
    expect(verifyEnvelopeSignature({ ...body, signature: 'rsa_sha256_pss:zz' }, publicKey)).toBe(false);
    expect(verifyEnvelopeSignature({ ...body, signature: undefined }, publicKey)).toBe(false);
  });

  it('adds no nonce without a signing key, and none when it is falsy', () => {
    expect(successEnvelope(1, { now, nonce: 'abc' }).body.nonce).toBeUndefined();
    expect(successEnvelope(1, { now, nonce: '', signingKey: privateKey }).body.nonce).toBeUndefined();
  });
});
