/**
 * The quality suite's Debtags split. `data/debtags.ts` writes train and valid only, so its valid
 * file becomes the held-out test file, and its train file is split again by source package, as
 * the builder splits, so sibling packages never sit on both sides.
 *
 * @module
 */

import { stringify } from "csv-stringify/sync";
import { readTable, type Table } from "../data/csv.ts";
import { splitOf } from "../data/splits.ts";
import { writeFileAtomic } from "../model/files/safetensors.ts";

/**
 * Whether a source package goes to validation: 1 in 8, by the same seeded hash as the facets
 * set's split (data/debtags_facets.ts), so both Debtags tasks validate on the same packages.
 *
 * @example
 * ```ts
 * import { isValidSource } from "./split.ts";
 * console.log(isValidSource("coreutils") === isValidSource("coreutils")); // true
 * ```
 */
export function isValidSource(source: string): boolean {
  return splitOf(source, "maskconv", "facets", { train: 7 / 8, valid: 1 / 8, test: 0 }) === "valid";
}

/**
 * Splits the rows of a table with a `source` column into train and valid, keeping row order.
 *
 * @example
 * ```ts
 * import { parseTable } from "../data/csv.ts";
 * import { splitBySource } from "./split.ts";
 * const table = parseTable(new TextEncoder().encode("source,text\na,x\nb,y\n"), "t.csv");
 * const { train, valid } = splitBySource(table);
 * console.log(train.length + valid.length); // 2
 * ```
 */
export function splitBySource(table: Table): Record<"train" | "valid", Table["rows"]> {
  const train: Table["rows"] = [];
  const valid: Table["rows"] = [];
  for (const row of table.rows) (isValidSource(row.source) ? valid : train).push(row);
  return { train, valid };
}

/**
 * Writes `to/train.csv` and `to/valid.csv` from `from/train.csv` split by source, and
 * `to/test.csv` as a copy of `from/valid.csv`; returns the train and valid row counts.
 *
 * @example
 * ```ts
 * import { writeDebtagsSplit } from "./split.ts";
 * const [from, to] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
 * await Deno.writeTextFile(`${from}/train.csv`, "id,source,text,tags\n1,a,x,t\n2,b,y,t\n");
 * await Deno.writeTextFile(`${from}/valid.csv`, "id,source,text,tags\n3,c,z,t\n");
 * console.log(await writeDebtagsSplit(from, to)); // row counts of train and valid
 * ```
 */
export async function writeDebtagsSplit(
  from: string,
  to: string,
): Promise<Record<"train" | "valid", number>> {
  const full = readTable(`${from}/train.csv`);
  const { train, valid } = splitBySource(full);
  const test = await Deno.readFile(`${from}/valid.csv`);
  await Deno.mkdir(to, { recursive: true });
  const csv = (rows: Table["rows"]) =>
    new TextEncoder().encode(stringify(rows, { header: true, columns: full.columns }));
  await writeFileAtomic(`${to}/train.csv`, csv(train));
  await writeFileAtomic(`${to}/valid.csv`, csv(valid));
  await writeFileAtomic(`${to}/test.csv`, test);
  return { train: train.length, valid: valid.length };
}
