// A tiny MessagePack encoder/decoder: the subset the hub speaks (nil, bool, int,
// float, str, bin, array, map). Integers beyond 2^53 are read as the nearest number.
const te = new TextEncoder();
const td = new TextDecoder();

class Writer {
  constructor() { this.b = new Uint8Array(256); this.v = new DataView(this.b.buffer); this.n = 0; }
  need(k) {
    if (this.n + k <= this.b.length) return;
    const nb = new Uint8Array(Math.max(this.b.length * 2, this.n + k));
    nb.set(this.b);
    this.b = nb;
    this.v = new DataView(nb.buffer);
  }
  u8(x) { this.need(1); this.b[this.n++] = x; }
  u16(x) { this.need(2); this.v.setUint16(this.n, x); this.n += 2; }
  u32(x) { this.need(4); this.v.setUint32(this.n, x); this.n += 4; }
  f64(x) { this.need(8); this.v.setFloat64(this.n, x); this.n += 8; }
  raw(a) { this.need(a.length); this.b.set(a, this.n); this.n += a.length; }
  head(n, fix, fixMax, c8, c16, c32) {
    if (n < fixMax) this.u8(fix | n);
    else if (c8 && n < 256) { this.u8(c8); this.u8(n); }
    else if (n < 65536) { this.u8(c16); this.u16(n); }
    else { this.u8(c32); this.u32(n); }
  }
}

function putInt(w, v) {
  if (v >= 0) {
    if (v < 128) w.u8(v);
    else if (v < 256) { w.u8(0xcc); w.u8(v); }
    else if (v < 65536) { w.u8(0xcd); w.u16(v); }
    else if (v < 2 ** 32) { w.u8(0xce); w.u32(v); }
    else { w.u8(0xcf); w.u32(Math.floor(v / 2 ** 32)); w.u32(v >>> 0); }
  } else if (v >= -32) w.u8(v & 0xff);
  else if (v >= -128) { w.u8(0xd0); w.u8(v & 0xff); }
  else if (v >= -32768) { w.u8(0xd1); w.u16(v & 0xffff); }
  else if (v >= -(2 ** 31)) { w.u8(0xd2); w.u32(v >>> 0); }
  else { w.u8(0xd3); w.u32(Math.floor(v / 2 ** 32) >>> 0); w.u32(v >>> 0); }
}

function put(w, v) {
  if (v === null || v === undefined) w.u8(0xc0);
  else if (v === false) w.u8(0xc2);
  else if (v === true) w.u8(0xc3);
  else if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) putInt(w, v);
    else { w.u8(0xcb); w.f64(v); }
  } else if (typeof v === 'string') {
    const b = te.encode(v);
    w.head(b.length, 0xa0, 32, 0xd9, 0xda, 0xdb);
    w.raw(b);
  } else if (v instanceof Uint8Array) {
    w.head(v.length, 0, 0, 0xc4, 0xc5, 0xc6);
    w.raw(v);
  } else if (Array.isArray(v)) {
    w.head(v.length, 0x90, 16, 0, 0xdc, 0xdd);
    for (const x of v) put(w, x);
  } else if (typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    w.head(keys.length, 0x80, 16, 0, 0xde, 0xdf);
    for (const k of keys) { put(w, k); put(w, v[k]); }
  } else throw new TypeError('msgpack: cannot encode ' + typeof v);
}

/** @returns {Uint8Array} */
export function encode(value) {
  const w = new Writer();
  put(w, value);
  return w.b.slice(0, w.n);
}

class Reader {
  constructor(buf) {
    this.b = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
    this.v = new DataView(this.b.buffer, this.b.byteOffset, this.b.byteLength);
    this.p = 0;
  }
  take(n) {
    if (this.p + n > this.b.length) throw new RangeError('msgpack: truncated');
    const at = this.p; this.p += n; return at;
  }
  u8() { return this.v.getUint8(this.take(1)); }
  u16() { return this.v.getUint16(this.take(2)); }
  u32() { return this.v.getUint32(this.take(4)); }
  str(n) { const at = this.take(n); return td.decode(this.b.subarray(at, at + n)); }
  bin(n) { const at = this.take(n); return this.b.slice(at, at + n); }
  arr(n) { const a = new Array(n); for (let i = 0; i < n; i++) a[i] = get(this); return a; }
  map(n) {
    const o = {};
    for (let i = 0; i < n; i++) { const k = get(this); o[String(k)] = get(this); }
    return o;
  }
}

function get(r) {
  const t = r.u8();
  if (t < 0x80) return t;
  if (t < 0x90) return r.map(t & 0x0f);
  if (t < 0xa0) return r.arr(t & 0x0f);
  if (t < 0xc0) return r.str(t & 0x1f);
  if (t >= 0xe0) return t - 256;
  switch (t) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return r.bin(r.u8());
    case 0xc5: return r.bin(r.u16());
    case 0xc6: return r.bin(r.u32());
    case 0xca: return r.v.getFloat32(r.take(4));
    case 0xcb: return r.v.getFloat64(r.take(8));
    case 0xcc: return r.u8();
    case 0xcd: return r.u16();
    case 0xce: return r.u32();
    case 0xcf: { const hi = r.u32(); return hi * 2 ** 32 + r.u32(); }
    case 0xd0: return r.v.getInt8(r.take(1));
    case 0xd1: return r.v.getInt16(r.take(2));
    case 0xd2: return r.v.getInt32(r.take(4));
    case 0xd3: { const hi = r.v.getInt32(r.take(4)); return hi * 2 ** 32 + r.u32(); }
    case 0xd9: return r.str(r.u8());
    case 0xda: return r.str(r.u16());
    case 0xdb: return r.str(r.u32());
    case 0xdc: return r.arr(r.u16());
    case 0xdd: return r.arr(r.u32());
    case 0xde: return r.map(r.u16());
    case 0xdf: return r.map(r.u32());
    default: throw new TypeError('msgpack: unsupported type 0x' + t.toString(16));
  }
}

export function decode(buf) {
  const r = new Reader(buf);
  const value = get(r);
  if (r.p !== r.b.length) throw new RangeError('msgpack: trailing bytes');
  return value;
}
