import assert from "node:assert/strict";
import { stringify } from "csv-stringify/sync";
import { parseTable, readTable } from "../data/csv.ts";
import { qualityChart } from "../quality/chart.ts";
import { qualityTable, type Scores, type SetResult } from "../quality/results.ts";
import { isValidSource, splitBySource, writeDebtagsSplit } from "../quality/split.ts";
import { columnFlags, SUITE } from "../quality/suite.ts";

const labels = (microF1: number, deletion = true): Scores => ({
  mode: "labels",
  documents: 1550,
  targets: ["a", "b", "c"],
  microF1,
  macroF1: 0.41,
  precisionAt: { "1": 0.812, "5": 0.377 },
  ...(deletion
    ? {
      deletion_test: { words: 3, documents: 1500, readWords: 0.271, randomWords: 0.018 },
      rationale_test: { documents: 1550, comprehensiveness: 0.312, sufficiency: 0.045 },
    }
    : {}),
});

const aspects = (meanAccuracy: number): Scores => ({
  mode: "aspects",
  documents: 400,
  targets: ["sentiment"],
  meanAccuracy,
  macroF1: 0.5,
});

const RESULTS: SetResult[] = [
  {
    name: "debtags",
    documents: { train: 5473, valid: 783, test: 1550 },
    trainMinutes: 31.25,
    maskconv: labels(0.546),
    svm: labels(0.628, false),
  },
  {
    name: "sentences",
    documents: { train: 3000, valid: 400, test: 400 },
    trainMinutes: null,
    maskconv: aspects(0.8),
    svm: aspects(0.75),
  },
];

/** The table's cells by row (header first), the separator row left out. */
function cells(table: string): string[][] {
  return table.split("\n").filter((_, i) => i !== 1)
    .map((line) => line.split("|").slice(1, -1).map((cell) => cell.trim()));
}

Deno.test("the quality table gives micro-F1 and P@k for labels sets, accuracy and no P@k for aspects sets", () => {
  const [header, debtags, sentences] = cells(qualityTable(RESULTS));
  const row = (values: string[]) => Object.fromEntries(header.map((h, i) => [h, values[i]]));
  assert.deepEqual(row(debtags), {
    "data set": "debtags",
    mode: "labels",
    train: "5,473",
    valid: "783",
    test: "1,550",
    targets: "3",
    "maskconv micro-F1 / accuracy": "0.546",
    "macro-F1": "0.410",
    "P@1": "0.812",
    "P@5": "0.377",
    "SVM micro-F1 / accuracy": "0.628",
    "SVM macro-F1": "0.410",
    "SVM P@1": "0.812",
    "SVM P@5": "0.377",
    "training min": "31.3",
    "deletion drop: read / random": "0.271 / 0.018 (3 words)",
    "ERASER comp. / suff.": "0.312 / 0.045",
  });
  const aspectsRow = row(sentences);
  assert.equal(aspectsRow["maskconv micro-F1 / accuracy"], "0.800");
  assert.equal(aspectsRow["SVM micro-F1 / accuracy"], "0.750");
  assert.equal(aspectsRow["P@1"], "—");
  assert.equal(aspectsRow["SVM P@5"], "—");
  assert.equal(aspectsRow["training min"], "—");
  assert.equal(aspectsRow["deletion drop: read / random"], "—");
  assert.equal(aspectsRow["ERASER comp. / suff."], "—");
});

Deno.test("the quality table pads every column to one width, so it reads as text too", () => {
  const lines = qualityTable(RESULTS).split("\n");
  assert.equal(lines.length, 4);
  assert.equal(new Set(lines.map((line) => line.length)).size, 1);
  assert.match(lines[1], /^\| -+ \| -+ \|/);
});

Deno.test("the quality chart draws each system's bar as high as its headline figure", () => {
  const svg = qualityChart(RESULTS);
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="44" height="([\d.]+)"/g)]
    .map((m) => ({ top: Number(m[1]), height: Number(m[2]) }));
  assert.equal(bars.length, 4);
  const base = bars[0].top + bars[0].height;
  for (const bar of bars) assert.equal(bar.top + bar.height, base);
  // maskconv 0.546 and SVM 0.628 on debtags, 0.8 and 0.75 on sentences, on one scale.
  const perUnit = bars[2].height / 0.8;
  for (const [i, value] of [0.546, 0.628, 0.8, 0.75].entries()) {
    assert.ok(Math.abs(bars[i].height - value * perUnit) <= 1, `bar ${i}: ${bars[i].height}`);
  }
  assert.match(svg, />debtags<\/text>.*>micro-F1<\/text>/);
  assert.match(svg, />sentences<\/text>.*>accuracy<\/text>/);
});

Deno.test("the debtags re-split keeps each source on one side and sends about 1 in 8 to valid", () => {
  const rows = Array.from({ length: 2000 }, (_, i) => ({
    id: `p${i}`,
    source: `src${Math.floor(i / 2)}`,
    text: "t",
    tags: "x",
  }));
  const table = parseTable(new TextEncoder().encode(stringify(rows, { header: true })), "t.csv");
  const { train, valid } = splitBySource(table);
  assert.equal(train.length + valid.length, 2000);
  for (const row of valid) assert.ok(isValidSource(row.source));
  for (const row of train) assert.ok(!isValidSource(row.source));
  // 1,000 sources at 1/8: 125 expected, σ ≈ 10.5.
  const sources = new Set(valid.map((row) => row.source)).size;
  assert.ok(sources > 90 && sources < 160, `${sources} sources in valid`);
  assert.equal(valid.length, 2 * sources);
});

Deno.test("the debtags split writes train and valid from the full train file, test as its valid file", async () => {
  const [from, to] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  const rows = Array.from({ length: 80 }, (_, i) => ({
    id: `p${i}`,
    source: `src${i}`,
    text: `text, "quoted"\nover lines ${i}`,
    tags: "a|b",
  }));
  await Deno.writeTextFile(`${from}/train.csv`, stringify(rows, { header: true }));
  const held = stringify([{ id: "q", source: "s", text: "held out", tags: "a" }], { header: true });
  await Deno.writeTextFile(`${from}/valid.csv`, held);
  const counts = await writeDebtagsSplit(from, `${to}/debtags`);
  const train = readTable(`${to}/debtags/train.csv`);
  const valid = readTable(`${to}/debtags/valid.csv`);
  assert.deepEqual(train.columns, ["id", "source", "text", "tags"]);
  assert.deepEqual(counts, { train: train.rows.length, valid: valid.rows.length });
  assert.deepEqual(
    [...train.rows, ...valid.rows].sort((a, b) => a.source < b.source ? -1 : 1),
    rows.sort((a, b) => a.source < b.source ? -1 : 1),
  );
  assert.equal(await Deno.readTextFile(`${to}/debtags/test.csv`), held);
  await Deno.remove(from, { recursive: true });
  await Deno.remove(to, { recursive: true });
});

Deno.test("the suite passes labels sets their labels column and facet sets the columns facets.txt lists", async () => {
  const set = (name: string) => SUITE.find((s) => s.name === name)!;
  assert.deepEqual(await columnFlags(set("debtags"), "unused"), ["--labels-column", "tags"]);
  assert.deepEqual(await columnFlags(set("manpages"), "unused"), ["--label-columns", "section"]);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/facets.txt`, "interface\nrole\n\n  works-with \n");
  assert.deepEqual(await columnFlags(set("debtags-facets"), dir), [
    "--label-columns",
    "interface,role,works-with",
  ]);
  await Deno.remove(dir, { recursive: true });
});
