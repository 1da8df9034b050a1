/**
 * Just enough of a WebAssembly assembler to generate one straight-line SIMD kernel from
 * TypeScript: a single exported function over an imported memory, with i32 and v128
 * locals. The kernel's code is written with the methods below, so what runs is what
 * this repository's source says, not a binary blob.
 */

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const I32 = 0x7f;
const V128 = 0x7b;

/** SIMD opcodes (0xfd prefix) used by the kernels. */
const SIMD = {
  load: 0x00,
  store: 0x0b,
  const: 0x0c,
  shuffle: 0x0d,
  splat32: 0x11,
  eq32: 0x37,
  and: 0x4e,
  or: 0x50,
  xor: 0x51,
  bitselect: 0x52,
  shl32: 0xab,
  shrU32: 0xad,
  add32: 0xae,
} as const;

export type Local = number & { readonly __local: unique symbol };

/** Builds the body of one function `(i32 × params) -> ()`, then the module around it. */
export class WasmFunction {
  private readonly code: number[] = [];
  private readonly i32Locals: number;
  private v128Count = 0;
  private readonly extraI32: number;

  /** Parameters are locals 0 .. params-1; `i32Locals` more i32 locals follow them. */
  constructor(private readonly params: number, i32Locals: number) {
    this.i32Locals = params + i32Locals;
    this.extraI32 = i32Locals;
  }

  /** Local i (parameters first, then the extra i32 locals). */
  i32Local(i: number): Local {
    if (i >= this.i32Locals) throw new RangeError('no such i32 local');
    return i as Local;
  }

  /** A fresh v128 local. Must all be allocated before `module()`. */
  v128Local(): Local {
    return (this.i32Locals + this.v128Count++) as Local;
  }

  private simd(op: number): this {
    this.code.push(0xfd, ...uleb(op));
    return this;
  }

  get(l: Local): this { this.code.push(0x20, ...uleb(l)); return this; }
  set(l: Local): this { this.code.push(0x21, ...uleb(l)); return this; }
  tee(l: Local): this { this.code.push(0x22, ...uleb(l)); return this; }
  i32Const(v: number): this { this.code.push(0x41, ...sleb(v | 0)); return this; }
  i32Add(): this { this.code.push(0x6a); return this; }
  i32Sub(): this { this.code.push(0x6b); return this; }
  i32LtU(): this { this.code.push(0x49); return this; }
  /** i32.load from the address on the stack plus `offset`. */
  i32Load(offset: number): this { this.code.push(0x28, 2, ...uleb(offset)); return this; }
  loop(): this { this.code.push(0x03, 0x40); return this; }
  /** Branch to the innermost enclosing loop when the top of the stack is non-zero. */
  brIf(depth = 0): this { this.code.push(0x0d, ...uleb(depth)); return this; }
  end(): this { this.code.push(0x0b); return this; }

  v128Load(offset: number): this { return this.simd(SIMD.load).mem(offset); }
  /** Stack: address, value. */
  v128Store(offset: number): this { return this.simd(SIMD.store).mem(offset); }
  /** Four copies of a 32-bit value. */
  v128Const32(v: number): this {
    this.simd(SIMD.const);
    for (let i = 0; i < 4; i++) this.code.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    return this;
  }
  /** i8x16.shuffle of the two vectors on the stack; lanes 0-15 the first, 16-31 the second. */
  shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new RangeError('a shuffle takes 16 lane indices');
    this.simd(SIMD.shuffle);
    this.code.push(...lanes);
    return this;
  }
  splat32(): this { return this.simd(SIMD.splat32); }
  eq32(): this { return this.simd(SIMD.eq32); }
  and(): this { return this.simd(SIMD.and); }
  or(): this { return this.simd(SIMD.or); }
  xor(): this { return this.simd(SIMD.xor); }
  /** Stack: a, b, mask -> bits of a where mask is 1, of b elsewhere. */
  bitselect(): this { return this.simd(SIMD.bitselect); }
  shl32(n: number): this { return this.i32Const(n).simd(SIMD.shl32); }
  shrU32(n: number): this { return this.i32Const(n).simd(SIMD.shrU32); }
  add32(): this { return this.simd(SIMD.add32); }

  /** 16-byte aligned memory operand. */
  private mem(offset: number): this {
    this.code.push(4, ...uleb(offset));
    return this;
  }

  /** The module: imports memory `env.memory`, exports this function as `name`. */
  module(name: string): Uint8Array {
    const section = (id: number, bytes: number[]) => [id, ...uleb(bytes.length), ...bytes];
    const text = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
    const locals: number[] = [];
    const groups: number[][] = [];
    if (this.extraI32 > 0) groups.push([...uleb(this.extraI32), I32]);
    if (this.v128Count > 0) groups.push([...uleb(this.v128Count), V128]);
    locals.push(...uleb(groups.length), ...groups.flat());
    const body = [...locals, ...this.code, 0x0b];
    const params = new Array<number>(this.params).fill(I32);
    return Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, [1, 0x60, ...uleb(this.params), ...params, 0]),
      ...section(2, [1, ...text('env'), ...text('memory'), 0x02, 0x00, 0x01]),
      ...section(3, [1, 0]),
      ...section(7, [1, ...text(name), 0x00, 0]),
      ...section(10, [1, ...uleb(body.length), ...body]),
    ]);
  }
}
