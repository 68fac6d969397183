/**
 * Reads CSV tables of documents and their labels. Every problem with the input becomes one
 * {@linkcode DataError} whose message names the file, the line and, where there is one, the field.
 *
 * @module
 */
import { type Info, parse } from "csv-parse/sync";
import { DataError } from "../base/errors.ts";

/** A parsed CSV file: header columns, one record per row, and where each row starts. */
export interface Table {
  /** Where the table came from, used as the prefix of error messages. */
  path: string;
  /** Header names, trimmed, in file order. */
  columns: string[];
  /** One object per data row, keyed by column name. */
  rows: Record<string, string>[];
  /** 1-based line on which each row starts (rows may span lines through quoted newlines). */
  lines: number[];
}

/** Options for {@linkcode readTable} and {@linkcode parseTable}. */
export interface TableOptions {
  /** Field separator; defaults to `,`. */
  delimiter?: string;
}

/**
 * Reads a UTF-8 CSV file whose first line is a header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readTable } from "./csv.ts";
 * const path = Deno.makeTempFileSync({ suffix: ".csv" });
 * Deno.writeTextFileSync(path, "text,tags\nhello,a|b\n");
 * assert.equal(readTable(path).rows[0].tags, "a|b");
 * ```
 */
export function readTable(path: string, options: TableOptions = {}): Table {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new DataError(`${path}: no such file`);
    if (err instanceof Deno.errors.IsADirectory) {
      throw new DataError(`${path}: a folder, expected a CSV file`);
    }
    if (err instanceof Deno.errors.PermissionDenied) {
      throw new DataError(`${path}: not allowed to read the file`);
    }
    throw err;
  }
  return parseTable(bytes, path, options);
}

/**
 * Parses CSV bytes; `path` only labels error messages. A UTF-8 byte order mark is skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTable } from "./csv.ts";
 * const bytes = new TextEncoder().encode('id,text\n1,"two\nlines"\n2,next\n');
 * const table = parseTable(bytes, "inline.csv");
 * assert.equal(table.rows[0].text, "two\nlines");
 * assert.deepEqual(table.lines, [2, 4]);
 * ```
 */
export function parseTable(bytes: Uint8Array, path: string, options: TableOptions = {}): Table {
  // The parser counts offsets in UTF-8 bytes after the byte order mark, so line numbers are
  // computed on the same bytes.
  const hasBom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  const body = hasBom ? bytes.subarray(3) : bytes;
  const text = decodeUtf8(body, path);
  const recordEnds: number[] = [];
  let records: string[][];
  try {
    records = parse(text, {
      delimiter: options.delimiter ?? ",",
      relax_column_count: true,
      skip_empty_lines: true,
      info: true,
      on_record: ({ record, info }: { record: string[]; info: Info }) => {
        recordEnds.push(info.bytes);
        return record;
      },
    });
  } catch (err) {
    // csv-parse names the line where it gave up (often the end of the file for an open quote);
    // the start of the record it was reading is where the user has to look.
    const line = recordStartLines(body, [recordEnds.at(-1) ?? 0], [body.length])[0];
    const message = printable((err as Error).message.replace(/ (at|on) line \d+/, ""));
    throw new DataError(`${path}:${line}: ${message}`);
  }
  if (records.length === 0) throw new DataError(`${path}: empty file, expected a header line`);
  const lines = recordStartLines(body, [0, ...recordEnds.slice(0, -1)], recordEnds);
  const columns = headerColumns(records[0], path);
  const rows = records.slice(1).map((record, i) => {
    const line = lines[i + 1];
    if (record.length !== columns.length) {
      const problem = record.length < columns.length
        ? `field ${quoted(columns[record.length])} is missing`
        : `field ${columns.length + 1} has no column`;
      throw new DataError(
        `${path}:${line}: ${record.length} fields but the header has ${columns.length}` +
          ` (${printable(columns.join(","))}); ${problem}`,
      );
    }
    return Object.fromEntries(columns.map((column, j) => [column, record[j]]));
  });
  return { path, columns, rows, lines: lines.slice(1) };
}

/**
 * The values of a text column; an empty text is an error because it would train on nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTable, textColumn } from "./csv.ts";
 * const table = parseTable(new TextEncoder().encode("text\nhi\n"), "inline.csv");
 * assert.deepEqual(textColumn(table, "text"), ["hi"]);
 * ```
 */
export function textColumn(table: Table, column: string): string[] {
  requireColumns(table, [column]);
  return table.rows.map((row, i) => {
    if (row[column].trim() === "") {
      throw new DataError(`${table.path}:${table.lines[i]}: field ${quoted(column)} is empty`);
    }
    return row[column];
  });
}

/**
 * One label per aspect column for each row (`--label-columns a,b`); an empty field means the
 * row has no label for that aspect and becomes `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aspectLabels, parseTable } from "./csv.ts";
 * const table = parseTable(new TextEncoder().encode("text,food,price\nok,good,\n"), "in.csv");
 * assert.deepEqual(aspectLabels(table, ["food", "price"]), [["good", undefined]]);
 * ```
 */
export function aspectLabels(table: Table, columns: string[]): (string | undefined)[][] {
  requireColumns(table, columns);
  return table.rows.map((row) =>
    columns.map((column) => {
      const value = row[column].trim();
      return value === "" ? undefined : value;
    })
  );
}

/**
 * The label set of each row from one column (`--labels-column tags`), split on `separator`;
 * blanks around labels and empty labels are ignored, so an empty field is an empty set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { multiLabels, parseTable } from "./csv.ts";
 * const table = parseTable(new TextEncoder().encode("text,tags\nok,a | b\n"), "in.csv");
 * assert.deepEqual(multiLabels(table, "tags"), [["a", "b"]]);
 * ```
 */
export function multiLabels(table: Table, column: string, separator = "|"): string[][] {
  requireColumns(table, [column]);
  return table.rows.map((row) => [
    ...new Set(row[column].split(separator).map((label) => label.trim()).filter(Boolean)),
  ]);
}

function requireColumns(table: Table, wanted: string[]): void {
  for (const column of wanted) {
    if (table.columns.includes(column)) continue;
    const closest = closestName(column, table.columns);
    const hint = closest === undefined ? "" : ` (did you mean ${quoted(closest)}?)`;
    throw new DataError(
      `${table.path}:1: no column ${quoted(column)}${hint}; the columns are ${
        printable(table.columns.join(","))
      }`,
    );
  }
  // Every reader of columns reads documents, and a table of none would train or predict nothing.
  if (table.rows.length === 0) {
    throw new DataError(`${table.path}: only a header line; expected at least one document`);
  }
}

function headerColumns(header: string[], path: string): string[] {
  const columns = header.map((name) => name.trim());
  columns.forEach((name, i) => {
    if (name === "") throw new DataError(`${path}:1: column ${i + 1} of the header has no name`);
    if (columns.indexOf(name) !== i) {
      throw new DataError(`${path}:1: column ${quoted(name)} appears twice in the header`);
    }
  });
  return columns;
}

function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // Only on failure: decode line by line to find where (a UTF-8 sequence never spans a newline).
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, i));
      } catch {
        break;
      }
      line++;
      start = i + 1;
    }
    throw new DataError(`${path}:${line}: not valid UTF-8; save the file with UTF-8 encoding`);
  }
}

/**
 * Line numbers of the records that span the given byte offsets (`offsets[i]` to `ends[i]`), after
 * the empty lines that the parser skipped before them.
 */
function recordStartLines(bytes: Uint8Array, offsets: number[], ends: number[]): number[] {
  const CR = 0x0d;
  const LF = 0x0a;
  const result: number[] = [];
  let line = 1;
  let position = 0;
  const advanceTo = (end: number) => {
    for (; position < end; position++) {
      // A CRLF counts at its CR, so a record that starts between the two (the parser's record
      // delimiter was a lone CR) is on the next line.
      const isBreak = bytes[position] === CR ||
        (bytes[position] === LF && bytes[position - 1] !== CR);
      if (isBreak) line++;
    }
  };
  const isBreakByte = (at: number) => bytes[at] === CR || bytes[at] === LF;
  offsets.forEach((offset, i) => {
    advanceTo(offset);
    // The breaks that end a record are its own: with "\n" as the record delimiter, a stray "\r"
    // is a whole record, which skipping every leading break would run past.
    let limit = ends[i];
    while (limit > offset && isBreakByte(limit - 1)) limit--;
    let start = offset;
    while (start < limit && isBreakByte(start)) start++;
    advanceTo(start);
    result.push(line);
  });
  return result;
}

/** `text` with its control characters escaped, so that an error message stays one line. */
function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A name from the data in double quotes, escaped like a JSON string. */
function quoted(name: string): string {
  return JSON.stringify(name);
}

/** The candidate with the smallest edit distance, if it is close enough to be a likely typo. */
function closestName(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 2)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}
