// Which crates the wasm's code comes from (`npm run bench`'s size table): function body sizes
// from the code section, names from the name section of a build that keeps its symbols, summed by
// the crate each name starts with. Generic code counts under the crate that defines it (serde's
// deserializers for the gateway's types count under serde), which is where it would go if the
// crate were dropped. `node scripts/wasm-sizes.mjs FILE.wasm` prints the table for one file.
import { readFileSync } from 'node:fs';

function leb(bytes, pos) {
  let result = 0, shift = 0, byte;
  do {
    byte = bytes[pos++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [result, pos];
}

export function codeSizesByCrate(bytes) {
  let pos = 8;
  let imported = 0;
  const bodies = [];
  const names = new Map();
  while (pos < bytes.length) {
    const id = bytes[pos++];
    let size;
    [size, pos] = leb(bytes, pos);
    const end = pos + size;
    if (id === 2) {
      let count, p = pos;
      [count, p] = leb(bytes, p);
      for (let i = 0; i < count; i++) {
        let len;
        [len, p] = leb(bytes, p); p += len; // module
        [len, p] = leb(bytes, p); p += len; // field
        const kind = bytes[p++];
        if (kind === 0) { imported++; [, p] = leb(bytes, p); }
        else if (kind === 1) { p++; const flags = bytes[p++]; [, p] = leb(bytes, p); if (flags & 1) [, p] = leb(bytes, p); }
        else if (kind === 2) { const flags = bytes[p++]; [, p] = leb(bytes, p); if (flags & 1) [, p] = leb(bytes, p); }
        else if (kind === 3) { p += 2; }
        else if (kind === 4) { p++; [, p] = leb(bytes, p); }
      }
    } else if (id === 10) {
      let count, p = pos;
      [count, p] = leb(bytes, p);
      for (let i = 0; i < count; i++) {
        let len;
        [len, p] = leb(bytes, p);
        bodies.push(len);
        p += len;
      }
    } else if (id === 0) {
      let len, p = pos;
      [len, p] = leb(bytes, p);
      const name = Buffer.from(bytes.subarray(p, p + len)).toString();
      p += len;
      if (name === 'name') {
        while (p < end) {
          const sub = bytes[p++];
          let subSize;
          [subSize, p] = leb(bytes, p);
          const subEnd = p + subSize;
          if (sub === 1) {
            let count, q = p;
            [count, q] = leb(bytes, q);
            for (let i = 0; i < count; i++) {
              let index, nlen;
              [index, q] = leb(bytes, q);
              [nlen, q] = leb(bytes, q);
              names.set(index, Buffer.from(bytes.subarray(q, q + nlen)).toString());
              q += nlen;
            }
          }
          p = subEnd;
        }
      }
    }
    pos = end;
  }
  const byCrate = new Map();
  let total = 0;
  bodies.forEach((size, i) => {
    const name = demangle(names.get(imported + i) ?? '');
    total += size;
    const crate = crateOf(name);
    byCrate.set(crate, (byCrate.get(crate) ?? 0) + size);
  });
  return { total, byCrate, named: names.size > 0 };
}

/**
 * A mangled Rust symbol, as rustc leaves them before wasm-bindgen, as far as the crate goes:
 * legacy (`_ZN10portcullis5oauth…E`) as its path, v0 (`_R…`) as its crate; other names as they
 * are.
 */
function demangle(name) {
  if (name.startsWith('_R')) {
    // v0 mangling: the crate root is `C`, an optional `s<disambiguator>_`, then `<len><name>`.
    const root = /C(?:s[0-9A-Za-z]*_)?(\d+)([A-Za-z_][A-Za-z0-9_]*)/.exec(name);
    return root ? root[2].slice(0, Number(root[1])) : name;
  }
  if (!name.startsWith('_ZN')) return name;
  const parts = [];
  let i = 3;
  while (i < name.length && name[i] !== 'E') {
    const digits = /^\d+/.exec(name.slice(i));
    if (!digits) break;
    i += digits[0].length;
    parts.push(name.slice(i, i + Number(digits[0])));
    i += Number(digits[0]);
  }
  const unescape = (part) =>
    part
      .replace(/^_\$/, '$')
      .replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ')
      .replace(/\$RF\$/g, '&').replace(/\$BP\$/g, '*').replace(/\$C\$/g, ',')
      .replace(/\$u5b\$/g, '[').replace(/\$u5d\$/g, ']').replace(/\$u7b\$/g, '{').replace(/\$u7d\$/g, '}')
      .replace(/\.\./g, '::');
  return parts.map(unescape).join('::');
}

/** The crate a function's name starts with; `<T as Trait>::f` counts under the trait's crate
 * when `T` is a type parameter or a primitive. */
function crateOf(name) {
  const head = (text) => /^[&*]*(?:mut |const |dyn )?([A-Za-z_][A-Za-z0-9_]*)/.exec(text)?.[1];
  const impl = /^<(.+?) as ([^>]+)>/.exec(name);
  if (impl) {
    const self = head(impl[1]);
    const primitive = !self || /^[A-Z]$/.test(self) || /^(str|bool|char|[iuf](8|16|32|64|128|size))$/.test(self);
    return (primitive ? head(impl[2]) : self) ?? '(unnamed)';
  }
  return head(name.replace(/^</, '')) ?? '(unnamed)';
}

if (process.argv[1] && process.argv[1].endsWith('wasm-sizes.mjs')) {
  const { total, byCrate } = codeSizesByCrate(readFileSync(process.argv[2]));
  const rows = [...byCrate.entries()].sort((a, b) => b[1] - a[1]);
  for (const [crate, size] of rows.slice(0, 30)) console.log(crate.padEnd(28), (size / 1024).toFixed(1).padStart(8), 'KiB', (100 * size / total).toFixed(1).padStart(6), '%');
  console.log('total', (total / 1024).toFixed(1), 'KiB');
}
