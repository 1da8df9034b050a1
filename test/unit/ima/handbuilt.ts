/**
 * Test-side construction of IMA lines straight from the byte layouts of spec §1.2,
 * independent of src/ima, so the module is checked against the spec and not itself.
 */
import crypto from 'node:crypto';

export const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

export const sha = (alg: string, ...parts: Buffer[]) => crypto.createHash(alg).update(Buffer.concat(parts)).digest();

export function dng(alg: string, digest: Buffer): Buffer {
  const head = Buffer.concat([Buffer.from(alg, 'utf8'), Buffer.from([0x3a, 0x00])]);
  return Buffer.concat([u32le(head.length + digest.length), head, digest]);
}

export function nng(name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  return Buffer.concat([u32le(n.length + 1), n, Buffer.from([0])]);
}

export function blob(data: Buffer): Buffer {
  return Buffer.concat([u32le(data.length), data]);
}

export interface HandLine {
  line: string;
  templateData: Buffer;
}

/** `ima` template: raw digest + name NUL-padded to 256 bytes. */
export function imaLine(digest: Buffer, name: string, logAlg = 'sha1'): HandLine {
  const n = Buffer.from(name, 'utf8');
  const td = Buffer.concat([digest, n, Buffer.alloc(256 - n.length)]);
  return { line: `10 ${sha(logAlg, td).toString('hex')} ima ${digest.toString('hex')} ${name}`, templateData: td };
}

export function ngLine(alg: string, digest: Buffer, name: string, logAlg = 'sha1', pcr = '10'): HandLine {
  const td = Buffer.concat([dng(alg, digest), nng(name)]);
  return { line: `${pcr} ${sha(logAlg, td).toString('hex')} ima-ng ${alg}:${digest.toString('hex')} ${name}`, templateData: td };
}

export function sigLine(alg: string, digest: Buffer, name: string, sig: Buffer | null, logAlg = 'sha1'): HandLine {
  const td = Buffer.concat([dng(alg, digest), nng(name), blob(sig ?? Buffer.alloc(0))]);
  return {
    line: `10 ${sha(logAlg, td).toString('hex')} ima-sig ${alg}:${digest.toString('hex')} ${name} ${sig ? sig.toString('hex') : ''}`,
    templateData: td,
  };
}

export function bufLine(alg: string, buffer: Buffer, name: string, logAlg = 'sha1'): HandLine {
  const digest = crypto.createHash(alg).update(buffer).digest();
  const td = Buffer.concat([dng(alg, digest), nng(name), blob(buffer)]);
  return {
    line: `10 ${sha(logAlg, td).toString('hex')} ima-buf ${alg}:${digest.toString('hex')} ${name} ${buffer.toString('hex')}`,
    templateData: td,
  };
}

/** Independent PCR replay over extend values. */
export function replayPcr(bank: string, extendValues: Buffer[], start?: Buffer): Buffer {
  let pcr = start ?? Buffer.alloc(crypto.createHash(bank).digest().length);
  for (const v of extendValues) pcr = sha(bank, pcr, v);
  return pcr;
}

export function fileDigest(alg: string, content: string): Buffer {
  return crypto.createHash(alg).update(content).digest();
}
