/**
 * Buffer's per-encoding writers (hexWrite, latin1Write, utf8Write) skip the argument
 * normalisation of Buffer#write, which is measurable when called several times per IMA
 * entry. They are long-standing but undocumented, so fall back to Buffer#write.
 */
type Writer = (buf: Buffer, text: string, offset: number) => number;

interface EncodingWriters {
  hexWrite?: (text: string, offset: number, length: number) => number;
  latin1Write?: (text: string, offset: number, length: number) => number;
  utf8Write?: (text: string, offset: number, length: number) => number;
}

const proto = Buffer.prototype as unknown as EncodingWriters;

function pick(name: keyof EncodingWriters, encoding: BufferEncoding): Writer {
  const direct = proto[name];
  if (typeof direct === 'function') return (buf, text, offset) => direct.call(buf, text, offset, buf.length - offset);
  return (buf, text, offset) => buf.write(text, offset, encoding);
}

/** Writes hex (stopping at the first non-hex pair); returns bytes written. */
export const writeHex: Writer = pick('hexWrite', 'hex');
export const writeLatin1: Writer = pick('latin1Write', 'latin1');
export const writeUtf8: Writer = pick('utf8Write', 'utf8');
