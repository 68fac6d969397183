/**
 * The data sets of `deno task quality`, how each is built, and which columns hold its targets.
 * The builders are scripts in `data/`, run as commands; each writes `train.csv`, `valid.csv` and
 * `test.csv` into its folder under `data/quality/`.
 *
 * @module
 */

/** Where the suite's data sets live (git-ignored). */
export const DATA = "data/quality";

const FULL = `${DATA}/debtags-full`;

/**
 * One step of building a data set, skipped when every file it writes exists: a script run as
 * `deno run -A SCRIPT ARGS…`, or the suite's own re-split of the full Debtags set.
 */
export type BuildStep =
  & { writes: string[] }
  & ({ command: string[] } | { resplit: { from: string; to: string } });

/** A data set of the suite. */
export interface QualitySet {
  name: string;
  /** A labels column, the aspect columns, or a file of the set listing them one per line. */
  columns: { labelsColumn: string } | { labelColumns: string[] } | { labelColumnsFile: string };
  build: BuildStep[];
}

const splits = (dir: string, names = ["train.csv", "valid.csv", "test.csv"]) =>
  names.map((name) => `${dir}/${name}`);

/** The full Debtags set, which has no test file of its own. */
const DEBTAGS_FULL: BuildStep = {
  writes: splits(FULL, ["train.csv", "valid.csv"]),
  command: ["data/debtags.ts", "--out", FULL],
};

/** The suite, in the order it runs and is tabulated. */
export const SUITE: readonly QualitySet[] = [
  {
    name: "debtags",
    columns: { labelsColumn: "tags" },
    build: [DEBTAGS_FULL, {
      writes: splits(`${DATA}/debtags`),
      resplit: { from: FULL, to: `${DATA}/debtags` },
    }],
  },
  {
    name: "debtags-facets",
    columns: { labelColumnsFile: "facets.txt" },
    build: [DEBTAGS_FULL, {
      writes: [...splits(`${DATA}/debtags-facets`), `${DATA}/debtags-facets/facets.txt`],
      command: ["data/debtags_facets.ts", "--from", FULL, "--out", `${DATA}/debtags-facets`],
    }],
  },
  {
    name: "sentences",
    columns: { labelColumns: ["sentiment"] },
    build: [{
      writes: splits(`${DATA}/sentences`),
      command: ["data/sentiment_sentences.ts", "--out", `${DATA}/sentences`],
    }],
  },
  {
    name: "manpages",
    columns: { labelColumns: ["section"] },
    build: [{
      writes: splits(`${DATA}/manpages`),
      command: ["data/manpages.ts", "--out", `${DATA}/manpages`],
    }],
  },
];

/**
 * The columns flags that `maskconv train` and `quality/svm_baseline.ts` both take for a set whose
 * files are in `dir`.
 *
 * @example
 * ```ts
 * import { columnFlags, SUITE } from "./suite.ts";
 * console.log(await columnFlags(SUITE[0], "data/quality/debtags")); // ["--labels-column", "tags"]
 * ```
 */
export async function columnFlags({ columns }: QualitySet, dir: string): Promise<string[]> {
  if ("labelsColumn" in columns) return ["--labels-column", columns.labelsColumn];
  const names = "labelColumns" in columns
    ? columns.labelColumns
    : (await Deno.readTextFile(`${dir}/${columns.labelColumnsFile}`)).split("\n")
      .map((line) => line.trim()).filter(Boolean);
  return ["--label-columns", names.join(",")];
}
