/**
 * Derives an aspects-mode set from the full Debtags set (`data/debtags.ts --out DIR`): one target
 * per tag facet (the part of a tag before `::`), whose class is the package's value in that facet.
 *
 *     deno run -A data/debtags_facets.ts --from DIR --out DIR2 [--seed maskconv]
 *       [--min-value-count 30] [--min-labelled 300]
 *
 * Choices, and why:
 * - A document's class for a facet is its tag's value when it has exactly one tag of that
 *   facet (`use::editing` → `use` = `editing`). With none or several the cell is empty, which
 *   training and scoring skip: several values are a multi-label question that one class per
 *   target cannot answer.
 * - Values held by fewer than `--min-value-count` training documents become empty, then facets
 *   with fewer than 2 values or fewer than `--min-labelled` labelled training documents are
 *   dropped: a target needs two classes and enough examples to learn and score. Counts are
 *   taken on this set's train split only, so validation and test do not shape the targets.
 * - Documents left with no label in any kept facet are dropped: they would train and score
 *   nothing.
 * - Test is the Debtags `valid.csv`; its `train.csv` is split 7/8 train, 1/8 valid by a hash of
 *   the seed and the `source` column, so sibling packages stay together, as in `debtags.ts`. The
 *   hash uses its own stream, independent of the Debtags train/valid split.
 * - The input's tags were already cut to those with ≥ 50 documents, so "exactly one tag of a
 *   facet" means exactly one of the tags kept there.
 *
 * Output: `train.csv`, `valid.csv`, `test.csv` with columns `id,source,text,<facet>...` (facets
 * in alphabetical order), and `facets.txt` listing the facets one per line, for
 * `--label-columns`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DataError } from "../base/errors.ts";
import { multiLabels, readTable, type Table, textColumn } from "./csv.ts";
import { countList, type Split, splitOf, SPLITS, writeSplits } from "./splits.ts";

/** A Debtags document as `data/debtags.ts` writes it. */
export interface TaggedDoc {
  id: string;
  source: string;
  text: string;
  tags: string[];
}

/** The thresholds that decide which values and facets become targets. */
export interface FacetRules {
  /** Training documents a value needs to stay a class. */
  minValueCount: number;
  /** Labelled training documents a facet needs to stay a target (with at least 2 values). */
  minLabelled: number;
}

/** The defaults of `--min-value-count` and `--min-labelled`. */
export const DEFAULT_RULES: FacetRules = { minValueCount: 30, minLabelled: 300 };

/** A facet kept as a target: its classes (sorted) and its labelled training documents. */
export interface Facet {
  name: string;
  values: string[];
  labelled: number;
}

/** The set: its targets and the rows of each split, in input order. */
export interface FacetSet {
  facets: Facet[];
  rows: Record<Split, TaggedDoc[]>;
  /** Documents dropped because no kept facet labels them, per split. */
  unlabelled: Record<Split, number>;
}

/**
 * Each facet among `tags` with its value when the document has exactly one tag of that facet,
 * `undefined` when it has several. Tags without `::` belong to no facet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { facetValues } from "./debtags_facets.ts";
 * const values = facetValues(["use::editing", "works-with::audio", "works-with::video"]);
 * assert.equal(values.get("use"), "editing");
 * assert.ok(values.has("works-with") && values.get("works-with") === undefined);
 * assert.ok(!values.has("interface"));
 * ```
 */
export function facetValues(tags: readonly string[]): Map<string, string | undefined> {
  const values = new Map<string, string | undefined>();
  for (const tag of new Set(tags)) {
    const at = tag.indexOf("::");
    if (at < 0) continue;
    const facet = tag.slice(0, at);
    values.set(facet, values.has(facet) ? undefined : tag.slice(at + 2));
  }
  return values;
}

/**
 * The facets that become targets, alphabetically, from the tags of the training documents.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chooseFacets } from "./debtags_facets.ts";
 * const tags = [["a::x", "b::x"], ["a::y"], ["a::y", "b::x", "b::y"], ["a::x"]];
 * const facets = chooseFacets(tags, { minValueCount: 2, minLabelled: 4 });
 * assert.deepEqual(facets, [{ name: "a", values: ["x", "y"], labelled: 4 }]);
 * ```
 */
export function chooseFacets(
  trainTags: readonly (readonly string[])[],
  rules: FacetRules = DEFAULT_RULES,
): Facet[] {
  const counts = new Map<string, Map<string, number>>();
  for (const tags of trainTags) {
    for (const [facet, value] of facetValues(tags)) {
      if (value === undefined) continue;
      const byValue = counts.get(facet) ?? new Map<string, number>();
      byValue.set(value, (byValue.get(value) ?? 0) + 1);
      counts.set(facet, byValue);
    }
  }
  const facets: Facet[] = [];
  for (const [name, byValue] of counts) {
    const kept = [...byValue].filter(([, n]) => n >= rules.minValueCount);
    const labelled = kept.reduce((sum, [, n]) => sum + n, 0);
    if (kept.length < 2 || labelled < rules.minLabelled) continue;
    facets.push({ name, values: kept.map(([value]) => value).sort(), labelled });
  }
  return facets.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * A document's class per facet, `""` (no label) where the facet is missing, ambiguous or its
 * value too rare.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { facetCells } from "./debtags_facets.ts";
 * const facets = [{ name: "use", values: ["editing"], labelled: 1 },
 *   { name: "works-with", values: ["audio", "video"], labelled: 2 }];
 * assert.deepEqual(facetCells(["use::editing", "works-with::audio"], facets), ["editing", "audio"]);
 * assert.deepEqual(facetCells(["use::rare", "works-with::audio", "works-with::video"], facets), [
 *   "",
 *   "",
 * ]);
 * ```
 */
export function facetCells(tags: readonly string[], facets: readonly Facet[]): string[] {
  const values = facetValues(tags);
  return facets.map(({ name, values: kept }) => {
    const value = values.get(name);
    return value !== undefined && kept.includes(value) ? value : "";
  });
}

/**
 * The set from the Debtags train documents (split 7/8 train, 1/8 valid by source) and its
 * valid documents (the test split).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildFacetSet } from "./debtags_facets.ts";
 * const doc = (id: string, tags: string[]) => ({ id, source: id, text: id, tags });
 * const train = Array.from({ length: 40 }, (_, i) => doc(`p${i}`, [`use::${i % 2 ? "a" : "b"}`]));
 * const set = buildFacetSet(train, [doc("q", ["use::a"]), doc("r", ["field::x"])], "maskconv", {
 *   minValueCount: 5,
 *   minLabelled: 20,
 * });
 * assert.deepEqual(set.facets.map((f) => f.name), ["use"]);
 * assert.deepEqual(set.rows.test.map((d) => d.id), ["q"]);
 * assert.equal(set.unlabelled.test, 1);
 * ```
 */
export function buildFacetSet(
  debtagsTrain: readonly TaggedDoc[],
  debtagsValid: readonly TaggedDoc[],
  seed: string,
  rules: FacetRules = DEFAULT_RULES,
): FacetSet {
  const rows: Record<Split, TaggedDoc[]> = { train: [], valid: [], test: [] };
  const shares = { train: 7 / 8, valid: 1 / 8, test: 0 };
  for (const doc of debtagsTrain) rows[splitOf(doc.source, seed, "facets", shares)].push(doc);
  rows.test = [...debtagsValid];
  const facets = chooseFacets(rows.train.map((doc) => doc.tags), rules);
  const unlabelled: Record<Split, number> = { train: 0, valid: 0, test: 0 };
  for (const split of SPLITS) {
    const labelled = rows[split].filter((doc) => facetCells(doc.tags, facets).some(Boolean));
    unlabelled[split] = rows[split].length - labelled.length;
    rows[split] = labelled;
  }
  return { facets, rows, unlabelled };
}

function fail(message: string): never {
  console.error(`debtags_facets: ${message}`);
  Deno.exit(2);
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive integer`);
  return n;
}

function tableDocs(table: Table): TaggedDoc[] {
  const texts = textColumn(table, "text");
  const tags = multiLabels(table, "tags");
  return table.rows.map((row, i) => ({
    id: row.id,
    source: row.source,
    text: texts[i],
    tags: tags[i],
  }));
}

function readDocs(path: string): TaggedDoc[] {
  try {
    const table = readTable(path);
    for (const column of ["id", "source"]) {
      if (!table.columns.includes(column)) throw new DataError(`${path}:1: no column "${column}"`);
    }
    return tableDocs(table);
  } catch (err) {
    if (err instanceof DataError) fail(err.message);
    throw err;
  }
}

function main(): void {
  let flags;
  try {
    flags = parseArgs({
      args: Deno.args,
      options: {
        from: { type: "string" },
        out: { type: "string" },
        seed: { type: "string" },
        "min-value-count": { type: "string" },
        "min-labelled": { type: "string" },
      },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (!flags.from || !flags.out) {
    fail(
      "usage: deno run -A data/debtags_facets.ts --from DIR --out DIR2 [--seed S]" +
        " [--min-value-count N] [--min-labelled N]",
    );
  }
  const rules = {
    minValueCount: positiveInt("min-value-count", flags["min-value-count"], 30),
    minLabelled: positiveInt("min-labelled", flags["min-labelled"], 300),
  };
  const set = buildFacetSet(
    readDocs(`${flags.from}/train.csv`),
    readDocs(`${flags.from}/valid.csv`),
    flags.seed ?? "maskconv",
    rules,
  );
  if (set.facets.length === 0) fail("no facet meets the thresholds; lower them");
  console.log(`${set.facets.length} facets: ${set.facets.map((f) => f.name).join(", ")}`);
  set.facets.forEach((facet, t) => {
    const labelled = SPLITS.map((split) => {
      const cells = set.rows[split].map((doc) => facetCells(doc.tags, [facet])[0]);
      return `${cells.filter(Boolean).length} ${split}`;
    });
    const trainCells = set.rows.train.map((doc) => facetCells(doc.tags, set.facets)[t]);
    console.log(
      `${facet.name}: ${facet.values.length} classes, labelled ${labelled.join(" / ")};` +
        ` train: ${countList(trainCells)}`,
    );
  });
  const dropped = SPLITS.map((split) => `${set.unlabelled[split]} ${split}`).join(" / ");
  console.log(`dropped without a label in any kept facet: ${dropped}`);
  const columns = ["id", "source", "text", ...set.facets.map((f) => f.name)];
  const rows = Object.fromEntries(SPLITS.map((split) => [
    split,
    set.rows[split].map((
      doc,
    ) => [doc.id, doc.source, doc.text, ...facetCells(doc.tags, set.facets)]),
  ])) as Record<Split, string[][]>;
  writeSplits(flags.out, columns, rows, "text");
  Deno.writeTextFileSync(`${flags.out}/facets.txt`, set.facets.map((f) => `${f.name}\n`).join(""));
  console.log(`${flags.out}/facets.txt: ${set.facets.length} facets`);
}

if (import.meta.main) main();
