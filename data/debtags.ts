/**
 * Builds a real multi-label text classification dataset from Debian package metadata: the text
 * is a package's description (Translation-en index), the labels are its Debtags (`Tag:` field of
 * the Packages index).
 *
 *     deno run -A data/debtags.ts --out DIR [--min-tag-count 50] [--sample-bytes N]
 *       [--sample-min-tag-count 20] [--seed maskconv] [--lists /var/lib/apt/lists] [--update]
 *
 * The shipped sample in fixtures/debtags was made with
 * `--out fixtures/debtags --min-tag-count 100 --sample-bytes 1800000`.
 *
 * Choices, and why:
 * - Only the main archive (`.../debian/dists/<suite>/main`, not -updates/-security) of the
 *   APT lists in /var/lib/apt/lists; `apt-get update -o Acquire::Languages=en` is run when the
 *   Packages or Translation-en index is missing there (or always with `--update`).
 * - Packages whose tags follow from their names are dropped, because a classifier would learn
 *   naming conventions rather than content: `lib*` (unless tagged `role::program`), `-dev`,
 *   `-dbg`, `-dbgsym`, `-doc`, translations and help (`-l10n-`, `-i18n`, `-help-`), language
 *   ecosystem modules (`python3-`, `r-cran-`, `ruby-`, `elpa-`, `gir1.2-`, `qml-module-`, ...),
 *   language bindings (`-perl`, `-java`, `-ocaml`, `libjs-`, `libghc-`, ...), plugin families
 *   (`gambas3-gb-`), fonts, spelling dictionaries and `task-` metapackages.
 * - Dropped tag facets: `role` (package kind), `implemented-in` and `uitoolkit` (implementation
 *   detail the description rarely states), `suite` (mostly the name prefix, e.g. kde, gnome),
 *   `x11` (duplicates `interface::x11` and `made-of::font`), `scope` (vague), `special`,
 *   `iso15924`, and every `*::TODO` placeholder. What is left (use, works-with, field, game,
 *   admin, network, protocol, devel, interface, made-of, hardware, security, sound, culture, ...)
 *   describes what a package is for.
 * - Texts over 4000 characters are dropped: they are catalogues of bundled components (e.g.
 *   texlive-latex-extra, 80 kB) that would take a large share of a size-limited sample.
 * - Packages with identical text are kept once (first by name): duplicates under different
 *   sources would leak between train and valid.
 * - Train/valid (80/20) is decided by a hash of the seed and the `Source:` package, so sibling
 *   binary packages, which share most of their text, stay on one side.
 * - `--sample-bytes` writes a small subset for shipping: whole sources in seeded hash order, each
 *   taken if both files together still fit; then tags rarer than `--sample-min-tag-count` within
 *   the sample are removed, and documents left without tags with them.
 *
 * Output: `train.csv` and `valid.csv` with columns `id,source,text,tags` (tags joined by `|`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { stringify } from "csv-stringify/sync";
import { Progress } from "../base/progress.ts";
import { unitHash } from "./splits.ts";

const LISTS_DIR = "/var/lib/apt/lists";
const APT_HELPER = "/usr/lib/apt/apt-helper";
const COLUMNS = ["id", "source", "text", "tags"];
const TRAIN_FRACTION = 0.8;
const MAX_TEXT_CHARS = 4000;

const DROPPED_FACETS = new Set([
  "role",
  "implemented-in",
  "uitoolkit",
  "suite",
  "x11",
  "scope",
  "special",
  "iso15924",
]);
const NAME_DERIVED = new RegExp(
  [
    String.raw`-(dev|dbg|dbgsym)$`,
    String.raw`-(doc|l10n|i18n|help|locale)(-|$)`,
    String.raw`^(python3?|pypy3?|r-cran|r-bioc|r-other|ruby|php|node|golang|elpa|cl|gir1\.2)-`,
    String.raw`^(qml6?-module|fonts|xfonts|ttf|otf|aspell|myspell|hunspell|hyphen|mythes|task)-`,
    String.raw`-(perl|java|ocaml|cil|guile|lua|tcl|prof|ruby[\d.]*)$`,
    String.raw`^(lib(js|ghc|php)|gambas3-gb)-`,
  ].join("|"),
);

interface Options {
  out: string;
  minTagCount: number;
  sampleBytes: number | undefined;
  sampleMinTagCount: number;
  seed: string;
  lists: string;
  update: boolean;
}

interface Doc {
  id: string;
  source: string;
  text: string;
  tags: string[];
}

function fail(message: string): never {
  console.error(`debtags: ${message}`);
  Deno.exit(2);
}

function usageError(message: string): never {
  console.error(
    "usage: deno run -A data/debtags.ts --out DIR [--min-tag-count N] [--sample-bytes N]" +
      " [--sample-min-tag-count N] [--seed S] [--lists DIR] [--update]",
  );
  fail(message);
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) usageError(`--${name} must be a positive integer`);
  return n;
}

function parseFlags(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        out: { type: "string" },
        "min-tag-count": { type: "string" },
        "sample-bytes": { type: "string" },
        "sample-min-tag-count": { type: "string" },
        seed: { type: "string" },
        lists: { type: "string" },
        update: { type: "boolean" },
      },
    }).values;
  } catch (err) {
    usageError((err as Error).message);
  }
}

function readOptions(args: string[]): Options {
  const flags = parseFlags(args);
  if (!flags.out) usageError("--out DIR is required");
  return {
    out: flags.out,
    minTagCount: positiveInt("min-tag-count", flags["min-tag-count"]) ?? 50,
    sampleBytes: positiveInt("sample-bytes", flags["sample-bytes"]),
    sampleMinTagCount: positiveInt("sample-min-tag-count", flags["sample-min-tag-count"]) ?? 20,
    seed: flags.seed ?? "maskconv",
    lists: flags.lists ?? LISTS_DIR,
    update: flags.update ?? false,
  };
}

interface Indexes {
  packages: string;
  translation: string;
  release: string;
}

function findIndexes(lists: string): Indexes | undefined {
  const names = [...Deno.readDirSync(lists)].map((entry) => entry.name).sort();
  const packages = names.filter((n) =>
    /_debian_dists_[a-z]+_main_binary-[a-z0-9]+_Packages(\.[a-z0-9]+)?$/.test(n)
  );
  const translation = names.filter((n) =>
    /_debian_dists_[a-z]+_main_i18n_Translation-en(\.[a-z0-9]+)?$/.test(n)
  );
  if (packages.length === 0 || translation.length === 0) return undefined;
  if (packages.length > 1 || translation.length > 1) {
    fail(`several main archives in ${lists}: ${[...packages, ...translation].join(", ")}`);
  }
  const release = packages[0].replace(/_main_binary-.*$/, "_InRelease");
  return {
    packages: `${lists}/${packages[0]}`,
    translation: `${lists}/${translation[0]}`,
    release: `${lists}/${release}`,
  };
}

function aptUpdate(): void {
  console.error("running apt-get update -o Acquire::Languages=en");
  const { success } = new Deno.Command("apt-get", {
    args: ["update", "-o", "Acquire::Languages=en"],
    stdout: "inherit",
    stderr: "inherit",
  }).outputSync();
  if (!success) fail("apt-get update failed (it needs root and network)");
}

/** apt-helper decompresses whatever compression apt chose for the lists (lz4, xz, gz, none). */
function readIndex(path: string): string {
  const { success, stdout, stderr } = new Deno.Command(APT_HELPER, { args: ["cat-file", path] })
    .outputSync();
  if (!success) fail(`cannot read ${path}: ${new TextDecoder().decode(stderr).trim()}`);
  return new TextDecoder().decode(stdout);
}

/** Deb822 stanzas as field maps; continuation lines stay in the value after a newline. */
function parseStanzas(text: string, label: string): Map<string, string>[] {
  const chunks = text.split(/\n\n+/);
  const stanzas: Map<string, string>[] = [];
  const progress = new Progress(label, chunks.length, "stanzas");
  for (const [i, chunk] of chunks.entries()) {
    if (i % 5000 === 0) progress.update(i);
    const fields = new Map<string, string>();
    let field = "";
    for (const line of chunk.split("\n")) {
      if (line.startsWith(" ") || line.startsWith("\t")) {
        fields.set(field, `${fields.get(field)}\n${line}`);
      } else if (line.includes(":")) {
        field = line.slice(0, line.indexOf(":"));
        fields.set(field, line.slice(field.length + 1).trim());
      }
    }
    if (fields.size > 0) stanzas.push(fields);
  }
  progress.update(chunks.length);
  progress.done();
  return stanzas;
}

/**
 * Joins the wrapped lines of a Debian description into one line per paragraph or list item;
 * the first line is the short description.
 */
function descriptionText(value: string): string {
  const [synopsis, ...body] = value.split("\n");
  const lines = [synopsis.trim()];
  let current: string[] = [];
  const flush = () => {
    if (current.length > 0) lines.push(current.join(" "));
    current = [];
  };
  for (const raw of body) {
    const line = raw.trim();
    if (line === ".") {
      flush();
      continue;
    }
    if (/^[*+o•-]\s/.test(line)) flush();
    current.push(line);
  }
  flush();
  return lines.join("\n");
}

function contentTags(field: string): string[] {
  return field.split(",")
    .map((tag) => tag.trim())
    .filter((tag) =>
      tag !== "" && !DROPPED_FACETS.has(tag.split("::")[0]) && !tag.endsWith("::TODO")
    );
}

function isTrain(source: string, seed: string): boolean {
  return unitHash(`${seed}\0split\0${source}`) < TRAIN_FRACTION;
}

/** Documents in index order, and how many packages were dropped for each reason. */
function collectDocs(
  packages: string,
  translation: string,
): { docs: Doc[]; dropped: Record<string, number> } {
  const descriptions = new Map<string, string>();
  for (const stanza of parseStanzas(translation, "parsing Translation-en")) {
    const key = `${stanza.get("Package")}\0${stanza.get("Description-md5")}`;
    descriptions.set(key, stanza.get("Description-en") ?? "");
  }
  const docs: Doc[] = [];
  const dropped: Record<string, number> = {};
  const seenText = new Set<string>();
  const drop = (reason: string) => {
    dropped[reason] = (dropped[reason] ?? 0) + 1;
  };
  for (const stanza of parseStanzas(packages, "parsing Packages")) {
    const id = stanza.get("Package") ?? "";
    const tagField = stanza.get("Tag");
    if (tagField === undefined) {
      drop("untagged");
      continue;
    }
    const allTags = tagField.split(",").map((tag) => tag.trim());
    if (NAME_DERIVED.test(id) || (id.startsWith("lib") && !allTags.includes("role::program"))) {
      drop("name-derived tags");
      continue;
    }
    const tags = contentTags(tagField);
    if (tags.length === 0) {
      drop("no content tags");
      continue;
    }
    const description = descriptions.get(`${id}\0${stanza.get("Description-md5")}`);
    if (!description) {
      drop("no description");
      continue;
    }
    const text = descriptionText(description);
    if (text.length > MAX_TEXT_CHARS) {
      drop("text too long");
      continue;
    }
    if (seenText.has(text)) {
      drop("duplicate text");
      continue;
    }
    seenText.add(text);
    const source = (stanza.get("Source") ?? id).split(" ")[0];
    docs.push({ id, source, text, tags: tags.sort() });
  }
  return { docs, dropped };
}

function tagCounts(docs: Doc[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const doc of docs) {
    for (const tag of doc.tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  }
  return counts;
}

/** Keeps tags seen at least `minCount` times; documents left without tags are dropped. */
function keepFrequentTags(docs: Doc[], minCount: number): Doc[] {
  const counts = tagCounts(docs);
  return docs
    .map((doc) => ({ ...doc, tags: doc.tags.filter((tag) => counts.get(tag)! >= minCount) }))
    .filter((doc) => doc.tags.length > 0);
}

function csvRow(doc: Doc): string {
  return stringify([[doc.id, doc.source, doc.text, doc.tags.join("|")]]);
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** Whole sources in seeded hash order, each taken if train and valid together still fit. */
function sample(docs: Doc[], budget: number, seed: string): Doc[] {
  const bySource = Map.groupBy(docs, (doc) => doc.source);
  const order = [...bySource.keys()]
    .map((source) => ({ source, rank: unitHash(`${seed}\0sample\0${source}`) }))
    .sort((a, b) => a.rank - b.rank || (a.source < b.source ? -1 : 1));
  const headers = 2 * byteLength(stringify([COLUMNS]));
  let used = headers;
  const chosen = new Set<string>();
  const progress = new Progress("sampling sources", order.length, "sources");
  for (const [i, { source }] of order.entries()) {
    if (i % 1000 === 0) progress.update(i);
    const size = bySource.get(source)!.reduce((sum, doc) => sum + byteLength(csvRow(doc)), 0);
    if (used + size > budget) continue;
    used += size;
    chosen.add(source);
  }
  progress.update(order.length);
  progress.done();
  return docs.filter((doc) => chosen.has(doc.source));
}

function writeCsv(path: string, docs: Doc[]): number {
  const text = stringify([COLUMNS]) + docs.map(csvRow).join("");
  Deno.writeTextFileSync(path, text);
  return byteLength(text);
}

function releaseDate(path: string): string {
  try {
    return /^Date: (.*)$/m.exec(Deno.readTextFileSync(path))?.[1] ?? "unknown date";
  } catch {
    return "unknown date";
  }
}

function main(): void {
  const options = readOptions(Deno.args);
  let indexes = options.update ? undefined : findIndexes(options.lists);
  if (!indexes) {
    aptUpdate();
    indexes = findIndexes(options.lists);
    if (!indexes) fail(`no main Packages/Translation-en index in ${options.lists}`);
  }
  console.error(`release ${releaseDate(indexes.release)}: ${indexes.packages}`);
  const { docs: candidates, dropped } = collectDocs(
    readIndex(indexes.packages),
    readIndex(indexes.translation),
  );
  const droppedList = Object.entries(dropped).map(([why, n]) => `${n} ${why}`).join(", ");
  console.log(`candidates: ${candidates.length} documents (dropped: ${droppedList})`);
  let docs = keepFrequentTags(candidates, options.minTagCount);
  console.log(
    `full set: ${docs.length} documents, ${tagCounts(docs).size} tags` +
      ` with >= ${options.minTagCount} documents`,
  );
  if (options.sampleBytes !== undefined) {
    docs = keepFrequentTags(
      sample(docs, options.sampleBytes, options.seed),
      options.sampleMinTagCount,
    );
  }
  if (docs.length === 0) fail("no documents left; lower --min-tag-count");
  Deno.mkdirSync(options.out, { recursive: true });
  const train = docs.filter((doc) => isTrain(doc.source, options.seed));
  const valid = docs.filter((doc) => !isTrain(doc.source, options.seed));
  const trainBytes = writeCsv(`${options.out}/train.csv`, train);
  const validBytes = writeCsv(`${options.out}/valid.csv`, valid);
  const counts = [...tagCounts(docs).values()];
  console.log(
    `written: ${docs.length} documents, ${counts.length} tags` +
      ` (${Math.min(...counts)}..${Math.max(...counts)} documents per tag)`,
  );
  console.log(`${options.out}/train.csv: ${train.length} documents, ${trainBytes} bytes`);
  console.log(`${options.out}/valid.csv: ${valid.length} documents, ${validBytes} bytes`);
}

if (import.meta.main) main();
