import { isUtf8 } from 'node:buffer';
import { extname } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import { CsvError, parse } from 'csv-parse';

export type RecordFormat = 'csv' | 'ndjson' | 'json';

export const RECORD_FORMATS: readonly RecordFormat[] = Object.freeze(['csv', 'ndjson', 'json']);

const FORMAT_BY_EXTENSION: ReadonlyMap<string, RecordFormat> = new Map([
  ['.csv', 'csv'],
  ['.ndjson', 'ndjson'],
  ['.jsonl', 'ndjson'],
  ['.json', 'json'],
]);

/**
 * Format from a file's extension (.csv, .ndjson, .jsonl, .json), case-insensitive; undefined if
 * unknown.
 */
export function formatFromPath(path: string): RecordFormat | undefined {
  return FORMAT_BY_EXTENSION.get(extname(path).toLowerCase());
}

export interface RecordSpec {
  /**
   * every field name a record may carry
   * (e.g. ['app','scope','workspaces','ticket','reason','revokeInstalls'])
   */
  fields: readonly string[];
  /** the ones that must be present (for CSV: the header must have the column) */
  required: readonly string[];
}

/**
 * Where a record came from: CSV and NDJSON give the 1-based physical line where the record starts;
 * JSON gives the 0-based array index.
 */
export type RecordPosition = { line: number } | { index: number };

export type RawRecord =
  | { ok: true; at: RecordPosition; fields: Record<string, unknown> }
  | { ok: false; at: RecordPosition; message: string };

/** Thrown for problems with the input as a whole (not one record). */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

const MiB = 1024 * 1024;
const MAX_LINE_BYTES = 16 * MiB;
const MAX_JSON_BYTES = 256 * MiB;

export function readRecords(
  input: NodeJS.ReadableStream | AsyncIterable<Buffer | string>,
  format: RecordFormat,
  spec: RecordSpec,
): AsyncIterable<RawRecord> {
  const shape = compileSpec(spec);
  const chunks = validUtf8(input as AsyncIterable<unknown>);
  switch (format) {
    case 'csv':
      return readCsv(chunks, shape);
    case 'ndjson':
      return readNdjson(chunks, shape);
    case 'json':
      return readJson(chunks, shape);
    default:
      throw new TypeError(`unknown record format: ${String(format)}`);
  }
}

interface Shape {
  fields: readonly string[];
  known: ReadonlySet<string>;
  required: readonly string[];
}

function compileSpec(spec: RecordSpec): Shape {
  const known = new Set(spec.fields);
  for (const name of spec.required) {
    if (!known.has(name)) throw new TypeError(`required field "${name}" is not in spec.fields`);
  }
  return { fields: spec.fields, known, required: spec.required };
}

/**
 * Yields the input as Buffers that each end on a character boundary, after checking they are
 * valid UTF-8. Strings are assumed to be decoded already.
 */
async function* validUtf8(input: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  let offset = 0; // bytes of input consumed before `carry`
  let carry: Buffer | undefined;
  for await (const chunk of input) {
    let data = toBuffer(chunk);
    if (data.length === 0) continue;
    if (carry !== undefined) {
      data = Buffer.concat([carry, data]);
      carry = undefined;
    }
    const end = completeLength(data);
    const complete = end === data.length ? data : data.subarray(0, end);
    if (!isUtf8(complete)) throw notUtf8(offset + Math.max(0, firstInvalidUtf8(complete)));
    if (end < data.length) carry = Buffer.from(data.subarray(end));
    offset += end;
    if (end > 0) yield complete;
  }
  if (carry !== undefined) throw notUtf8(offset);
}

function toBuffer(chunk: unknown): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  throw new TypeError(`expected the input to yield Buffers or strings, got ${typeof chunk}`);
}

function notUtf8(offset: number): InputError {
  return new InputError(`the input is not valid UTF-8 (first bad byte at offset ${offset})`);
}

/** Length of `buf` without a trailing, possibly incomplete multi-byte sequence. */
function completeLength(buf: Buffer): number {
  const n = buf.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const b = buf[i]!;
    if ((b & 0xc0) === 0x80) continue;
    const len = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return n - i < len ? i : n;
  }
  return n;
}

/** Index of the first byte that starts an invalid (or truncated) UTF-8 sequence, or -1. */
function firstInvalidUtf8(buf: Buffer): number {
  const n = buf.length;
  let i = 0;
  while (i < n) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let more: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) more = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      more = 2;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      more = 3;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    if (i + more >= n) return i;
    const b1 = buf[i + 1]!;
    if (b1 < lo || b1 > hi) return i;
    for (let k = 2; k <= more; k++) {
      if ((buf[i + k]! & 0xc0) !== 0x80) return i;
    }
    i += more + 1;
  }
  return -1;
}

function quoteName(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

function plural(word: string, names: readonly string[]): string {
  return `${word}${names.length === 1 ? '' : 's'} ${names.map(quoteName).join(', ')}`;
}

function missingFields(fields: Record<string, unknown>, shape: Shape): string[] | undefined {
  let missing: string[] | undefined;
  for (const name of shape.required) {
    if (fields[name] === undefined) (missing ??= []).push(name);
  }
  return missing;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** Turns one parsed JSON value into a record, copying known keys onto a null-prototype object. */
function fromJson(value: unknown, at: RecordPosition, shape: Shape): RawRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, at, message: `expected a JSON object, got ${describe(value)}` };
  }
  const source = value as Record<string, unknown>;
  const fields = Object.create(null) as Record<string, unknown>;
  let unknown: string[] | undefined;
  for (const key of Object.keys(source)) {
    if (shape.known.has(key)) fields[key] = source[key];
    else (unknown ??= []).push(key);
  }
  const missing = missingFields(fields, shape);
  if (unknown === undefined && missing === undefined) return { ok: true, at, fields };
  const problems: string[] = [];
  if (unknown !== undefined) problems.push(plural('unknown field', unknown));
  if (missing !== undefined) problems.push(plural('missing field', missing));
  return { ok: false, at, message: problems.join('; ') };
}

async function* readCsv(chunks: AsyncIterable<Buffer>, shape: Shape): AsyncGenerator<RawRecord> {
  // Not using csv-parse's `info.lines`: it counts a CRLF inside a quoted field as two lines.
  // Each record ends with exactly one LF, so lines are counted from the LFs inside its cells.
  const parser = parse({
    bom: true,
    record_delimiter: ['\r\n', '\n'],
    relax_column_count: true,
    max_record_size: MAX_LINE_BYTES,
  });
  pipeline(Readable.from(chunks), parser, () => {});
  let names: string[] | undefined;
  let line = 1;
  try {
    for await (const cells of parser as AsyncIterable<string[]>) {
      const at = line;
      line += 1 + countLineFeeds(cells);
      if (cells.length === 1 && isBlank(cells[0]!)) continue;
      if (names === undefined) {
        names = csvHeader(cells, shape);
        continue;
      }
      yield csvRecord(cells, names, { line: at }, shape);
    }
  } catch (err) {
    if (err instanceof CsvError) throw csvInputError(err);
    throw err;
  }
  if (names === undefined) throw new InputError('the file is empty');
}

function countLineFeeds(cells: readonly string[]): number {
  let count = 0;
  for (const cell of cells) {
    for (let i = cell.indexOf('\n'); i !== -1; i = cell.indexOf('\n', i + 1)) count++;
  }
  return count;
}

function isBlank(text: string): boolean {
  return /^\s*$/.test(text);
}

function csvHeader(cells: readonly string[], shape: Shape): string[] {
  const names = cells.map((cell) => cell.trim());
  const seen = new Set<string>();
  const duplicate: string[] = [];
  const unknown: string[] = [];
  names.forEach((name, i) => {
    if (name === '') throw new InputError(`column ${i + 1} of the header has no name`);
    if (seen.has(name)) {
      if (!duplicate.includes(name)) duplicate.push(name);
    } else seen.add(name);
    if (!shape.known.has(name) && !unknown.includes(name)) unknown.push(name);
  });
  if (duplicate.length > 0) {
    throw new InputError(`duplicate columns in the header: ${duplicate.join(', ')}`);
  }
  if (unknown.length > 0) {
    throw new InputError(
      `unknown columns: ${unknown.join(', ')}; expected: ${shape.fields.join(', ')}`,
    );
  }
  const missing = shape.required.filter((name) => !seen.has(name));
  if (missing.length > 0) {
    throw new InputError(`missing required columns: ${missing.join(', ')}`);
  }
  return names;
}

function csvRecord(
  cells: readonly string[],
  names: readonly string[],
  at: RecordPosition,
  shape: Shape,
): RawRecord {
  if (cells.length !== names.length) {
    return {
      ok: false,
      at,
      message: `expected ${names.length} cells as in the header, got ${cells.length}`,
    };
  }
  const fields = Object.create(null) as Record<string, unknown>;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i]!;
    if (cell !== '') fields[names[i]!] = cell;
  }
  const missing = missingFields(fields, shape);
  if (missing !== undefined) return { ok: false, at, message: plural('missing field', missing) };
  return { ok: true, at, fields };
}

function csvInputError(err: CsvError): InputError {
  const line = typeof err['lines'] === 'number' ? err['lines'] : undefined;
  if (err.code === 'CSV_MAX_RECORD_SIZE') {
    const where = line === undefined ? '' : ` (at line ${line})`;
    return new InputError(`a record is longer than 16 MiB${where}; is a quote left open?`);
  }
  return new InputError(`the file is not valid CSV: ${err.message}`);
}

async function* readNdjson(chunks: AsyncIterable<Buffer>, shape: Shape): AsyncGenerator<RawRecord> {
  let line = 1;
  let pending: Buffer[] = [];
  let pendingLength = 0;
  let tooLong = false;

  const finish = (last: Buffer): RawRecord | undefined => {
    const at = { line };
    if (tooLong || pendingLength + last.length > MAX_LINE_BYTES) {
      return { ok: false, at, message: `line ${line} is longer than 16 MiB` };
    }
    const bytes =
      pending.length === 0 ? last : Buffer.concat([...pending, last], pendingLength + last.length);
    return ndjsonRecord(bytes, at, shape);
  };

  for await (const chunk of chunks) {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const record = finish(chunk.subarray(start, nl));
      if (record !== undefined) yield record;
      pending = [];
      pendingLength = 0;
      tooLong = false;
      line++;
      start = nl + 1;
    }
    if (start < chunk.length && !tooLong) {
      const rest = chunk.subarray(start);
      if (pendingLength + rest.length > MAX_LINE_BYTES) {
        tooLong = true;
        pending = [];
        pendingLength = 0;
      } else {
        pending.push(rest);
        pendingLength += rest.length;
      }
    }
  }
  if (pendingLength > 0 || tooLong) {
    const record = finish(Buffer.alloc(0));
    if (record !== undefined) yield record;
  }
}

function ndjsonRecord(bytes: Buffer, at: { line: number }, shape: Shape): RawRecord | undefined {
  let start = 0;
  let end = bytes.length;
  if (at.line === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  if (end > start && bytes[end - 1] === 0x0d) end--;
  let first = start;
  while (first < end && (bytes[first] === 0x20 || bytes[first] === 0x09 || bytes[first] === 0x0d)) {
    first++;
  }
  if (first === end) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8', start, end));
  } catch (err) {
    return { ok: false, at, message: `not valid JSON: ${(err as Error).message}` };
  }
  return fromJson(value, at, shape);
}

async function* readJson(chunks: AsyncIterable<Buffer>, shape: Shape): AsyncGenerator<RawRecord> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of chunks) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES) {
      throw new InputError('a JSON file may be at most 256 MiB; use NDJSON for larger inputs');
    }
    parts.push(chunk);
  }
  let text = Buffer.concat(parts, size).toString('utf8');
  parts.length = 0;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (isBlank(text)) throw new InputError('the file is empty');
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new InputError(`the file is not valid JSON: ${(err as Error).message}`);
  }
  text = '';
  if (!Array.isArray(document)) throw new InputError('a JSON file must hold an array of records');
  const items: unknown[] = document;
  for (let index = 0; index < items.length; index++) {
    yield fromJson(items[index], { index }, shape);
  }
}
