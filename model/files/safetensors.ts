/**
 * Reading and writing float32 tensors in the safetensors format (an 8-byte little-endian header
 * length, a JSON header, then the raw data), so trained models open in other tools.
 *
 * @module
 */

import { DataError } from "../../base/errors.ts";

/** A named float32 tensor. */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

const ALIGN = 8;

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The bytes of a safetensors file holding `tensors` (in name order) and `metadata`; the
 * SHA-256 of the data section goes into the metadata so a damaged file is caught on load.
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "./safetensors.ts";
 * const bytes = await encodeSafetensors({ w: { shape: [2], data: new Float32Array([1, 2]) } });
 * console.log(bytes.length);
 * ```
 */
export async function encodeSafetensors(
  tensors: Record<string, NamedTensor>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array<ArrayBuffer>> {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors[name];
    if (shape.reduce((a, b) => a * b, 1) !== data.length) {
      throw new RangeError(`tensor ${name}: shape [${shape}] does not hold ${data.length} values`);
    }
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  const body = new Uint8Array(offset);
  for (const name of names) {
    const { data } = tensors[name];
    const [begin] = (header[name] as { data_offsets: number[] }).data_offsets;
    body.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), begin);
  }
  header.__metadata__ = { ...metadata, sha256: await sha256Hex(body) };
  let json = JSON.stringify(header);
  json += " ".repeat((ALIGN - ((8 + json.length) % ALIGN)) % ALIGN);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + body.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  out.set(body, 8 + headerBytes.length);
  return out;
}

/**
 * Parses safetensors bytes, checking every header entry (dtype, shape against the byte range,
 * ranges inside the file and not overlapping) and the data checksum when the file carries one;
 * any problem is a one-line {@link DataError} naming `path`.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = await encodeSafetensors({ w: { shape: [2], data: new Float32Array([1, 2]) } });
 * const { tensors } = await decodeSafetensors(bytes, "model.safetensors");
 * console.log(tensors.w.data); // [1, 2]
 * ```
 */
export async function decodeSafetensors(
  bytes: Uint8Array,
  path: string,
): Promise<{ tensors: Record<string, NamedTensor>; metadata: Record<string, string> }> {
  const fail = (what: string): never => {
    throw new DataError(`${path}: not a valid safetensors file: ${what}`);
  };
  if (bytes.length < 8) fail("shorter than its 8-byte header length");
  const headerLength = Number(
    new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true),
  );
  if (headerLength > bytes.length - 8) fail(`header length ${headerLength} exceeds the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)),
    );
  } catch {
    return fail("header is not UTF-8 JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("header is not an object");
  }
  const body = bytes.slice(8 + headerLength);
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  if (
    typeof metadata !== "object" || Array.isArray(metadata) ||
    !Object.values(metadata).every((value) => typeof value === "string")
  ) {
    fail("__metadata__ is not an object of strings");
  }
  const tensors: Record<string, NamedTensor> = {};
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (typeof entry !== "object" || entry === null) fail(`tensor ${name} is not an object`);
    const { dtype, shape, data_offsets } = entry as Record<string, unknown>;
    if (dtype !== "F32") fail(`tensor ${name} has dtype ${dtype}, expected F32`);
    if (!Array.isArray(shape) || !shape.every((n) => Number.isInteger(n) && n >= 0)) {
      fail(`tensor ${name} has shape ${JSON.stringify(shape)}`);
    }
    const [begin, end] = Array.isArray(data_offsets) ? data_offsets : [NaN, NaN];
    if (
      !(Number.isInteger(begin) && Number.isInteger(end) && 0 <= begin && begin <= end &&
        end <= body.length)
    ) {
      fail(
        `tensor ${name} has data offsets ${
          JSON.stringify(data_offsets)
        } outside the ${body.length}-byte data`,
      );
    }
    const elements = (shape as number[]).reduce((a, b) => a * b, 1);
    if (elements * 4 !== end - begin) {
      fail(
        `tensor ${name} of shape [${shape}] needs ${elements * 4} bytes, its range holds ${
          end - begin
        }`,
      );
    }
    ranges.push([begin, end, name]);
    tensors[name] = {
      shape: shape as number[],
      data: new Float32Array(body.buffer.slice(begin, end)),
    };
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) {
      fail(`tensors ${ranges[i - 1][2]} and ${ranges[i][2]} overlap`);
    }
  }
  if (metadata.sha256 !== undefined && metadata.sha256 !== await sha256Hex(body)) {
    fail("data checksum mismatch (the file is damaged or was cut short)");
  }
  return { tensors, metadata };
}

/** The temporary file beside `path` that an atomic write of it goes through. */
export function temporaryPath(path: string): string {
  return `${path}.tmp-${Deno.pid}`;
}

/** One file of {@link writeFilesAtomic}: its bytes, or a writer for a format with its own. */
export interface AtomicFile {
  path: string;
  content: Uint8Array | ((temporary: string) => void | Promise<void>);
}

/**
 * Replaces `files` atomically, together: every one is written to its temporary file first, then
 * all are renamed into place in order. A write that fails (a full disk, a path that cannot be
 * written) removes every temporary file before the error goes on, so the folder holds exactly
 * what it held before. A path that cannot be written (no such folder, no permission) or that is
 * a folder is a one-line {@link DataError}.
 *
 * @example
 * ```ts
 * import { writeFilesAtomic } from "./safetensors.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFilesAtomic([
 *   { path: `${dir}/a.txt`, content: new TextEncoder().encode("a") },
 *   { path: `${dir}/b.txt`, content: (temporary) => Deno.writeTextFileSync(temporary, "b") },
 * ]);
 * console.log(await Deno.readTextFile(`${dir}/b.txt`));
 * ```
 */
export async function writeFilesAtomic(files: AtomicFile[]): Promise<void> {
  // Checked before anything is written: a rename onto a folder would fail after earlier
  // renames had already replaced their files.
  for (const { path } of files) await refuseFolder(path);
  const temporaries = files.map(({ path }) => temporaryPath(path));
  try {
    for (const [i, file] of files.entries()) await writeTemporary(file, temporaries[i]);
    for (const [i, file] of files.entries()) await Deno.rename(temporaries[i], file.path);
  } catch (error) {
    // Those already renamed are gone; the rest are of no use to anyone.
    for (const temporary of temporaries) await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}

/**
 * Writes `bytes` to `path` atomically: a temporary file beside it, then a rename, so a crash
 * never leaves a half-written file in place of a good one, and a failed write leaves neither.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./safetensors.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.txt`, new TextEncoder().encode("done"));
 * console.log(await Deno.readTextFile(`${dir}/a.txt`));
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await writeFilesAtomic([{ path, content: bytes }]);
}

async function refuseFolder(path: string): Promise<void> {
  const info = await Deno.lstat(path).catch(() => undefined);
  if (info?.isDirectory) throw new DataError(`${path}: a folder, expected a file name`);
}

async function writeTemporary({ path, content }: AtomicFile, temporary: string): Promise<void> {
  try {
    if (typeof content === "function") await content(temporary);
    else await Deno.writeFile(temporary, content);
  } catch (error) {
    const where =
      error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory
        ? "its folder does not exist"
        : error instanceof Deno.errors.PermissionDenied
        ? "not allowed to write there"
        : undefined;
    if (where) throw new DataError(`${path}: cannot write the file; ${where}`);
    throw error;
  }
}
