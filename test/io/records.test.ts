import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  InputError,
  RECORD_FORMATS,
  formatFromPath,
  readRecords,
  type RawRecord,
  type RecordFormat,
  type RecordSpec,
} from '../../src/io/records.js';

const SPEC: RecordSpec = {
  fields: ['app', 'scope', 'workspaces', 'ticket', 'reason', 'revokeInstalls'],
  required: ['app', 'scope'],
};

const MiB = 1024 * 1024;

async function collect(
  chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>,
  format: RecordFormat,
  spec: RecordSpec = SPEC,
): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for await (const record of readRecords(Readable.from(chunks), format, spec)) out.push(record);
  return out;
}

function ok(at: RawRecord['at'], fields: Record<string, unknown>): RawRecord {
  return { ok: true, at, fields: Object.assign(Object.create(null), fields) };
}

function bad(at: RawRecord['at'], message: string): RawRecord {
  return { ok: false, at, message };
}

/** Splits `data` into pieces of `size` bytes, cutting through multi-byte characters. */
function pieces(data: string | Buffer, size: number): Buffer[] {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

async function inputError(
  chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>,
  format: RecordFormat,
  spec: RecordSpec = SPEC,
): Promise<InputError> {
  try {
    await collect(chunks, format, spec);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

describe('formatFromPath', () => {
  it('knows the extensions, case-insensitively', () => {
    expect(formatFromPath('approvals.csv')).toBe('csv');
    expect(formatFromPath('/tmp/APPROVALS.CSV')).toBe('csv');
    expect(formatFromPath('ws.ndjson')).toBe('ndjson');
    expect(formatFromPath('ws.JSONL')).toBe('ndjson');
    expect(formatFromPath('dir.csv/ws.Json')).toBe('json');
  });

  it('returns undefined for anything else', () => {
    expect(formatFromPath('ws.txt')).toBeUndefined();
    expect(formatFromPath('csv')).toBeUndefined();
    expect(formatFromPath('ws.csv.gz')).toBeUndefined();
  });

  it('lists the formats', () => {
    expect([...RECORD_FORMATS]).toEqual(['csv', 'ndjson', 'json']);
  });
});

describe('CSV', () => {
  it('reads records as null-prototype objects of strings with their lines', async () => {
    const records = await collect(['app,scope,revokeInstalls\n', 'a1,s1,true\na2,s2,1\n'], 'csv');
    expect(records).toEqual([
      ok({ line: 2 }, { app: 'a1', scope: 's1', revokeInstalls: 'true' }),
      ok({ line: 3 }, { app: 'a2', scope: 's2', revokeInstalls: '1' }),
    ]);
    const first = records[0]!;
    expect(first.ok && Object.getPrototypeOf(first.fields)).toBe(null);
  });

  it('trims header names but not values', async () => {
    const records = await collect([' app ,\tscope\t\n a , s \n'], 'csv');
    expect(records).toEqual([ok({ line: 2 }, { app: ' a ', scope: ' s ' })]);
  });

  it('gives the starting line of records after quoted embedded newlines', async () => {
    const csv = [
      'app,scope,reason',
      'a1,s1,"two',
      'lines"',
      'a2,s2,"three',
      '',
      'lines, quoted ""x"""',
      'a3,s3,plain',
      '',
    ].join('\n');
    expect(await collect([csv], 'csv')).toEqual([
      ok({ line: 2 }, { app: 'a1', scope: 's1', reason: 'two\nlines' }),
      ok({ line: 4 }, { app: 'a2', scope: 's2', reason: 'three\n\nlines, quoted "x"' }),
      ok({ line: 7 }, { app: 'a3', scope: 's3', reason: 'plain' }),
    ]);
  });

  it('handles CRLF, including CRLF inside quotes and mixed with LF', async () => {
    const csv = 'app,scope,reason\r\na1,s1,"x\r\ny"\r\na2,s2,z\na3,s3,"q"\r\n';
    expect(await collect([csv], 'csv')).toEqual([
      ok({ line: 2 }, { app: 'a1', scope: 's1', reason: 'x\r\ny' }),
      ok({ line: 4 }, { app: 'a2', scope: 's2', reason: 'z' }),
      ok({ line: 5 }, { app: 'a3', scope: 's3', reason: 'q' }),
    ]);
  });

  it('skips blank lines and still counts them', async () => {
    const csv = '\n\napp,scope\n\na1,s1\n   \n\r\na2,s2';
    expect(await collect([csv], 'csv')).toEqual([
      ok({ line: 5 }, { app: 'a1', scope: 's1' }),
      ok({ line: 8 }, { app: 'a2', scope: 's2' }),
    ]);
  });

  it('strips a UTF-8 BOM, even one split across chunks', async () => {
    const data = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('app,scope\na,s\n')]);
    const expected = [ok({ line: 2 }, { app: 'a', scope: 's' })];
    expect(await collect([data], 'csv')).toEqual(expected);
    expect(await collect(pieces(data, 1), 'csv')).toEqual(expected);
  });

  it('reads records split at any byte', async () => {
    const csv = 'app,scope,reason\r\nä1,s1,"x\r\ny"\r\n€2,s2,😀\r\n';
    const expected = await collect([csv], 'csv');
    expect(expected).toHaveLength(2);
    for (const size of [1, 2, 3, 5, 7])
      expect(await collect(pieces(csv, size), 'csv')).toEqual(expected);
  });

  it('omits empty cells and reports missing required ones', async () => {
    const csv = 'app,scope,ticket,reason\na1,s1,,r\n,,T-1,\n"",s3,,\n';
    expect(await collect([csv], 'csv')).toEqual([
      ok({ line: 2 }, { app: 'a1', scope: 's1', reason: 'r' }),
      bad({ line: 3 }, 'missing fields "app", "scope"'),
      bad({ line: 4 }, 'missing field "app"'),
    ]);
  });

  it('reports rows with the wrong number of cells and goes on', async () => {
    const csv = 'app,scope\na1\na2,s2,extra\na3,s3\n';
    expect(await collect([csv], 'csv')).toEqual([
      bad({ line: 2 }, 'expected 2 cells as in the header, got 1'),
      bad({ line: 3 }, 'expected 2 cells as in the header, got 3'),
      ok({ line: 4 }, { app: 'a3', scope: 's3' }),
    ]);
  });

  it('rejects unknown columns, naming them all', async () => {
    const err = await inputError(['app,foo,scope,bar\n'], 'csv');
    expect(err.message).toBe(
      'unknown columns: foo, bar; expected: app, scope, workspaces, ticket, reason, revokeInstalls',
    );
  });

  it('treats __proto__ and constructor columns as unknown', async () => {
    const err = await inputError(['app,scope,__proto__,constructor\na,s,x,y\n'], 'csv');
    expect(err.message).toMatch(/^unknown columns: __proto__, constructor;/);
  });

  it('rejects missing required columns, naming them', async () => {
    expect((await inputError(['ticket,reason\n'], 'csv')).message).toBe(
      'missing required columns: app, scope',
    );
    expect((await inputError(['app,reason\n'], 'csv')).message).toBe(
      'missing required columns: scope',
    );
  });

  it('rejects duplicate and unnamed columns', async () => {
    expect((await inputError(['app,scope, app\n'], 'csv')).message).toBe(
      'duplicate columns in the header: app',
    );
    expect((await inputError(['app,scope,\n'], 'csv')).message).toBe(
      'column 3 of the header has no name',
    );
  });

  it('rejects an empty file', async () => {
    for (const data of [[], [''], ['\n\n  \r\n'], [Buffer.from([0xef, 0xbb, 0xbf])]]) {
      expect((await inputError(data, 'csv')).message).toBe('the file is empty');
    }
  });

  it('yields nothing for a header without rows', async () => {
    expect(await collect(['app,scope\n'], 'csv')).toEqual([]);
    expect(await collect(['app,scope'], 'csv')).toEqual([]);
  });

  it('rejects malformed quoting as a whole', async () => {
    const err = await inputError(['app,scope\na,"open\n'], 'csv');
    expect(err.message).toMatch(/^the file is not valid CSV: Quote Not Closed/);
    expect((await inputError(['app,scope\na,b"c\n'], 'csv')).message).toMatch(/not valid CSV/);
  });

  it('rejects a record longer than 16 MiB without buffering it all', async () => {
    function* source(): Generator<string | Buffer> {
      yield 'app,scope\na1,s\na2,"';
      const block = Buffer.alloc(MiB, 'x');
      for (let i = 0; i < 17; i++) yield block;
      yield '"\n';
    }
    expect((await inputError(source(), 'csv')).message).toBe(
      'a record is longer than 16 MiB (at line 3); is a quote left open?',
    );
  });

  it('accepts an async iterable of strings', async () => {
    async function* source(): AsyncGenerator<string> {
      yield 'app,sc';
      yield 'ope\na,s\n';
    }
    const records: RawRecord[] = [];
    for await (const record of readRecords(source(), 'csv', SPEC)) records.push(record);
    expect(records).toEqual([ok({ line: 2 }, { app: 'a', scope: 's' })]);
  });

  it('stops reading the input when the consumer stops', async () => {
    const source = Readable.from(
      (function* () {
        yield 'app,scope\n';
        for (let i = 0; i < 1e6; i++) yield `a${i},s\n`;
      })(),
    );
    for await (const record of readRecords(source, 'csv', SPEC)) {
      expect(record.ok).toBe(true);
      break;
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(source.destroyed).toBe(true);
  });

  it('reads 100,000 rows quickly', async () => {
    function* rows(): Generator<string> {
      yield 'app,scope,workspaces,ticket,reason,revokeInstalls\n';
      let batch = '';
      for (let i = 0; i < 100_000; i++) {
        batch += `app-${i},scope-${i % 7},ws-${i % 13},T-${i},because,false\n`;
        if (i % 1000 === 999) {
          yield batch;
          batch = '';
        }
      }
    }
    let count = 0;
    let last: RawRecord | undefined;
    for await (const record of readRecords(Readable.from(rows()), 'csv', SPEC)) {
      if (record.ok) count++;
      last = record;
    }
    expect(count).toBe(100_000);
    expect(last?.at).toEqual({ line: 100_001 });
  });
});

describe('NDJSON', () => {
  it('reads objects keeping their JSON types', async () => {
    const ndjson =
      '{"app":"a1","scope":"s1","revokeInstalls":true,"workspaces":["w1","w2"]}\n' +
      '{"app":"a2","scope":"s2","ticket":null}\n';
    const records = await collect([ndjson], 'ndjson');
    expect(records).toEqual([
      ok({ line: 1 }, { app: 'a1', scope: 's1', revokeInstalls: true, workspaces: ['w1', 'w2'] }),
      ok({ line: 2 }, { app: 'a2', scope: 's2', ticket: null }),
    ]);
    const first = records[0]!;
    expect(first.ok && Object.getPrototypeOf(first.fields)).toBe(null);
  });

  it('skips blank lines, handles CRLF, BOM and a last line without newline', async () => {
    const ndjson = '\uFEFF{"app":"a1","scope":"s1"}\r\n\r\n  \t \n{"app":"a2","scope":"s2"}';
    const expected = [
      ok({ line: 1 }, { app: 'a1', scope: 's1' }),
      ok({ line: 4 }, { app: 'a2', scope: 's2' }),
    ];
    expect(await collect([ndjson], 'ndjson')).toEqual(expected);
    expect(await collect(pieces(ndjson, 1), 'ndjson')).toEqual(expected);
    expect(await collect(pieces(ndjson, 5), 'ndjson')).toEqual(expected);
  });

  it('yields nothing for an empty file', async () => {
    expect(await collect([], 'ndjson')).toEqual([]);
    expect(await collect(['\n \n'], 'ndjson')).toEqual([]);
  });

  it('reports lines that are not JSON objects and goes on', async () => {
    const ndjson = [
      '{"app":"a1","scope":"s1"}',
      '{"app":',
      '[1,2]',
      '42',
      'null',
      '"text"',
      '{"app":"a7","scope":"s7"}',
    ].join('\n');
    const records = await collect([ndjson], 'ndjson');
    expect(records.map((r) => [r.at, r.ok])).toEqual([
      [{ line: 1 }, true],
      [{ line: 2 }, false],
      [{ line: 3 }, false],
      [{ line: 4 }, false],
      [{ line: 5 }, false],
      [{ line: 6 }, false],
      [{ line: 7 }, true],
    ]);
    expect(records[1]).toMatchObject({ message: expect.stringMatching(/^not valid JSON: /) });
    expect(records.slice(2, 6).map((r) => !r.ok && r.message)).toEqual([
      'expected a JSON object, got an array',
      'expected a JSON object, got a number',
      'expected a JSON object, got null',
      'expected a JSON object, got a string',
    ]);
  });

  it('reports unknown and missing fields', async () => {
    const ndjson = '{"app":"a","scope":"s","foo":1,"bar":2}\n{"ticket":"T"}\n{"app":"a","x":0}\n';
    expect(await collect([ndjson], 'ndjson')).toEqual([
      bad({ line: 1 }, 'unknown fields "foo", "bar"'),
      bad({ line: 2 }, 'missing fields "app", "scope"'),
      bad({ line: 3 }, 'unknown field "x"; missing field "scope"'),
    ]);
  });

  it('treats __proto__ and constructor as unknown fields without polluting', async () => {
    const ndjson =
      '{"app":"a","scope":"s","__proto__":{"polluted":true}}\n' +
      '{"app":"a","scope":"s","constructor":{"prototype":{"polluted":true}}}\n';
    const records = await collect([ndjson], 'ndjson');
    expect(records).toEqual([
      bad({ line: 1 }, 'unknown field "__proto__"'),
      bad({ line: 2 }, 'unknown field "constructor"'),
    ]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('keeps a __proto__ field that the spec names as a plain own property', async () => {
    const spec = { fields: ['__proto__', 'app'], required: ['app'] };
    const records = await collect(['{"app":"a","__proto__":{"polluted":true}}\n'], 'ndjson', spec);
    const record = records[0]!;
    expect(record.ok).toBe(true);
    if (!record.ok) return;
    expect(Object.getPrototypeOf(record.fields)).toBe(null);
    expect(Object.keys(record.fields)).toEqual(['app', '__proto__']);
    expect((record.fields as { polluted?: unknown }).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('reads a 2 MiB line', async () => {
    const reason = 'x'.repeat(2 * MiB);
    const ndjson = `{"app":"a0","scope":"s"}\n{"app":"a1","scope":"s","reason":"${reason}"}\n`;
    const records = await collect(pieces(ndjson, 64 * 1024), 'ndjson');
    expect(records).toHaveLength(2);
    expect(records[1]).toEqual(ok({ line: 2 }, { app: 'a1', scope: 's', reason }));
  });

  it('reports a line longer than 16 MiB without buffering it and goes on', async () => {
    function* source(): Generator<Buffer> {
      yield Buffer.from('{"app":"a1","scope":"s","reason":"');
      const block = Buffer.alloc(MiB, 'x');
      for (let i = 0; i < 17; i++) yield block;
      yield Buffer.from('"}\n{"app":"a2","scope":"s"}\n');
    }
    expect(await collect(source(), 'ndjson')).toEqual([
      bad({ line: 1 }, 'line 1 is longer than 16 MiB'),
      ok({ line: 2 }, { app: 'a2', scope: 's' }),
    ]);
  });

  it('accepts NUL characters in values', async () => {
    const records = await collect(['{"app":"a\\u0000b","scope":"s"}\n'], 'ndjson');
    expect(records).toEqual([ok({ line: 1 }, { app: 'a\u0000b', scope: 's' })]);
  });
});

describe('JSON', () => {
  it('reads an array of objects with their indexes', async () => {
    const json = '\uFEFF[{"app":"a0","scope":"s","revokeInstalls":false},\n 7, {"app":"a2"}]';
    const records = await collect(pieces(json, 3), 'json');
    expect(records).toEqual([
      ok({ index: 0 }, { app: 'a0', scope: 's', revokeInstalls: false }),
      bad({ index: 1 }, 'expected a JSON object, got a number'),
      bad({ index: 2 }, 'missing field "scope"'),
    ]);
    const first = records[0]!;
    expect(first.ok && Object.getPrototypeOf(first.fields)).toBe(null);
  });

  it('treats __proto__ as an unknown field without polluting', async () => {
    const json = '[{"app":"a","scope":"s","__proto__":{"polluted":true}},{"app":"b","scope":"s"}]';
    expect(await collect([json], 'json')).toEqual([
      bad({ index: 0 }, 'unknown field "__proto__"'),
      ok({ index: 1 }, { app: 'b', scope: 's' }),
    ]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('requires an array', async () => {
    for (const json of ['{"app":"a","scope":"s"}', '42', 'null', '"[]"']) {
      expect((await inputError([json], 'json')).message).toBe(
        'a JSON file must hold an array of records',
      );
    }
    expect(await collect(['[]'], 'json')).toEqual([]);
  });

  it('rejects an empty file and invalid JSON', async () => {
    expect((await inputError([], 'json')).message).toBe('the file is empty');
    expect((await inputError([' \n'], 'json')).message).toBe('the file is empty');
    expect((await inputError(['[{"app":'], 'json')).message).toMatch(
      /^the file is not valid JSON: /,
    );
  });

  it('rejects files over 256 MiB', async () => {
    function* source(): Generator<Buffer> {
      const block = Buffer.alloc(MiB, ' ');
      yield Buffer.from('[');
      for (let i = 0; i < 257; i++) yield block;
    }
    expect((await inputError(source(), 'json')).message).toMatch(/at most 256 MiB/);
  });
});

describe('UTF-8', () => {
  const formats: RecordFormat[] = ['csv', 'ndjson', 'json'];

  it('accepts multi-byte characters split across chunks', async () => {
    const csv = Buffer.from('app,scope\né€,😀\n');
    const expected = [ok({ line: 2 }, { app: 'é€', scope: '😀' })];
    for (const size of [1, 2, 3]) expect(await collect(pieces(csv, size), 'csv')).toEqual(expected);
  });

  it('rejects a bad byte with its offset, in every format', async () => {
    for (const format of formats) {
      const data = Buffer.concat([
        Buffer.from('app,scope\nab'),
        Buffer.from([0xff]),
        Buffer.from('\n'),
      ]);
      const err = await inputError([data], format);
      expect(err.message).toBe('the input is not valid UTF-8 (first bad byte at offset 12)');
    }
  });

  it('rejects an invalid sequence split across chunks', async () => {
    for (const format of formats) {
      const chunks = [Buffer.from('app,scope\n'), Buffer.from([0xe2, 0x82]), Buffer.from('(,s\n')];
      const err = await inputError(chunks, format);
      expect(err.message).toBe('the input is not valid UTF-8 (first bad byte at offset 10)');
    }
  });

  it('rejects a sequence truncated by the end of the input', async () => {
    for (const format of formats) {
      const chunks = [Buffer.from('app,scope\n'), Buffer.from([0x61, 0xf0, 0x9f, 0x98])];
      const err = await inputError(chunks, format);
      expect(err.message).toBe('the input is not valid UTF-8 (first bad byte at offset 11)');
    }
  });

  it('rejects overlong encodings and surrogates', async () => {
    for (const bytes of [
      [0xc0, 0x80],
      [0xe0, 0x80, 0x80],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
    ]) {
      const data = Buffer.concat([
        Buffer.from('app,scope\nx'),
        Buffer.from(bytes),
        Buffer.from(',s\n'),
      ]);
      for (const size of [1, 2, 1024]) {
        const err = await inputError(pieces(data, size), 'csv');
        expect(err.message).toBe('the input is not valid UTF-8 (first bad byte at offset 11)');
      }
    }
  });

  it('accepts a NUL byte', async () => {
    const data = Buffer.concat([
      Buffer.from('app,scope\na'),
      Buffer.from([0]),
      Buffer.from(',s\n'),
    ]);
    expect(await collect([data], 'csv')).toEqual([ok({ line: 2 }, { app: 'a\u0000', scope: 's' })]);
  });
});
