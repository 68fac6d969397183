/**
 * Builds a long-document multi-class set: the Linux man pages of the Debian packages `manpages`
 * and `manpages-dev`, rendered to plain text, labelled with their manual section.
 *
 *     deno run -A data/manpages.ts --out DIR [--seed maskconv] [--min-pages 40]
 *
 * Choices, and why:
 * - The pages are those `dpkg -L manpages manpages-dev` lists under `/usr/share/man/manN/`, so
 *   the set does not depend on what else is installed (nor on translations). Symlinks and `.so`
 *   redirect pages are skipped: they are other names of a page already in the set. Both
 *   packages (and `man-db`, which renders) are installed with apt-get when missing.
 * - Pages are rendered by `man -l --nh --nj -Tutf8` (preprocessors such as tbl as each page
 *   asks, no hyphenation or justification, groff's `-P-cbou` for text without escapes), with a
 *   fixed locale and environment so the text does not depend on the caller's terminal.
 * - The section would give the label away in the header line (`accept(2)  System Calls Manual
 *   accept(2)`), the footer line and the page's own names written as `accept(2)`: the header and
 *   footer lines are removed and the page's own names lose their `(2)`. References to other
 *   pages (`bind(2)` in SEE ALSO) stay: they are content, as a reader sees it.
 * - Table rules (box-drawing characters) become blanks and the hyphen and minus signs groff
 *   writes become `-`, so tokens match those of ordinary text; lines lose their indentation.
 * - The class is the section digit (the `3` of `man3/size_t.3type`); sections with fewer than
 *   `--min-pages` pages are dropped, too few to learn or score.
 * - The split (70/10/20) hashes the seed and the page's id (its file name without `.gz`).
 *
 * Output: `train.csv`, `valid.csv`, `test.csv` with columns `id,text,section`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Progress } from "../base/progress.ts";
import { countList, type Split, splitOf, SPLITS, wordSummary, writeSplits } from "./splits.ts";

const PACKAGES = ["manpages", "manpages-dev"];
const COLUMNS = ["id", "text", "section"];
const PAGE_PATH = /^\/usr\/share\/man\/man([1-9])\/[^/]+$/;

/** A rendered page and its class. */
export interface ManPage {
  id: string;
  text: string;
  section: string;
}

/**
 * The page files among `dpkg -L` output lines, sorted: those directly in
 * `/usr/share/man/manN/` (not the folders, not translated pages).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { manPagePaths } from "./manpages.ts";
 * const listing = "/usr/share/man/man2\n/usr/share/man/man2/read.2.gz\n" +
 *   "/usr/share/man/fr/man2/read.2.gz\n/usr/share/doc/manpages/README\n";
 * assert.deepEqual(manPagePaths(listing), ["/usr/share/man/man2/read.2.gz"]);
 * ```
 */
export function manPagePaths(listing: string): string[] {
  const lines = listing.split("\n").map((line) => line.trim());
  return [...new Set(lines.filter((line) => PAGE_PATH.test(line)))].sort();
}

/**
 * The section digit of a page file, from its folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pageSection } from "./manpages.ts";
 * assert.equal(pageSection("/usr/share/man/man3/size_t.3type.gz"), "3");
 * ```
 */
export function pageSection(path: string): string {
  const match = PAGE_PATH.exec(path);
  if (!match) throw new Error(`${path}: not a page under /usr/share/man/manN/`);
  return match[1];
}

/**
 * The page's id: its file name without `.gz`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pageId } from "./manpages.ts";
 * assert.equal(pageId("/usr/share/man/man8/ld.so.8.gz"), "ld.so.8");
 * ```
 */
export function pageId(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1).replace(/\.gz$/, "");
}

/**
 * Whether a page's roff source only points at another page (`.so man3/other.3`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRedirect } from "./manpages.ts";
 * assert.ok(isRedirect('.\\" SPDX-License-Identifier: GPL\n.so man3/exp.3\n'));
 * assert.ok(!isRedirect(".TH exp 3 2023-02-05\n.SH NAME\nexp \\- exponent\n"));
 * ```
 */
export function isRedirect(roff: string): boolean {
  for (const line of roff.split("\n")) {
    const request = line.trim();
    if (request === "" || /^['.]\s*\\"/.test(request) || request === ".") continue;
    return /^\.so\s/.test(request);
  }
  return false;
}

/**
 * The names a rendered page is about: its file name without the section suffix, and the names
 * its NAME section lists before the dash.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ownNames } from "./manpages.ts";
 * const text = "accept(2)\n\nNAME\n       accept, accept4 - accept a connection\n\nLIBRARY\n";
 * assert.deepEqual(ownNames("accept.2", text), ["accept", "accept4"]);
 * ```
 */
export function ownNames(id: string, rendered: string): string[] {
  const names = [id.replace(/\.[1-9][a-z]*$/, "")];
  const lines = rendered.split("\n");
  const start = lines.findIndex((line) => line.trim() === "NAME");
  if (start >= 0) {
    const paragraph: string[] = [];
    for (const line of lines.slice(start + 1)) {
      if (line.trim() === "") {
        if (paragraph.length > 0) break;
        continue;
      }
      paragraph.push(line.trim());
    }
    const heading = paragraph.join(" ").split(/\s+[-\u2010\u2212\u2014]\s+/)[0];
    names.push(...heading.split(",").map((name) => name.trim()).filter(Boolean));
  }
  return [...new Set(names)];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Plain text of a rendered page without what names its section: the header and footer lines
 * (those ending in `name(N)`) are removed and `(N)` after the page's own names is dropped where N
 * is its own `section` (`adjtimex(8)`, another page, stays in `adjtimex(2)`). Table
 * rules become blanks, groff's hyphen and minus signs `-`, lines lose their indentation and runs
 * of blank lines become one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stripSection } from "./manpages.ts";
 * const rendered = "accept(2)      System Calls Manual      accept(2)\n\n\n\nNAME\n" +
 *   "       accept, accept4 \u2010 accept a connection\n\nSEE ALSO\n       bind(2), accept4(2), accept(8)\n" +
 *   "\nLinux man-pages 6.03      2022-12-04      accept(2)\n";
 * assert.equal(
 *   stripSection(rendered, ["accept", "accept4"], "2"),
 *   "NAME\naccept, accept4 - accept a connection\n\nSEE ALSO\nbind(2), accept4, accept(8)",
 * );
 * ```
 */
export function stripSection(
  rendered: string,
  names: readonly string[],
  section: string,
): string {
  const lines = rendered.replace(/\r/g, "").split("\n");
  const carriesSection = (line: string | undefined) =>
    // Both start at the margin, where man indents every line of the page's body.
    line !== undefined && /^\S.*\([1-9][a-z]*\)\s*$/.test(line);
  const nonBlank = lines.flatMap((line, i) => (line.trim() === "" ? [] : [i]));
  const first = nonBlank.at(0);
  const last = nonBlank.at(-1);
  if (last !== undefined && last !== first && carriesSection(lines[last])) lines.splice(last, 1);
  if (first !== undefined && carriesSection(lines[first])) lines.splice(first, 1);
  let text = lines.join("\n");
  const sorted = [...names].sort((a, b) => b.length - a.length).map(escapeRegExp);
  if (sorted.length > 0) {
    // Only where the name starts a word: `accept(2)` loses its section, `xaccept(2)` does not.
    const own = new RegExp(`(?<![\\w.-])(${sorted.join("|")})\\(${section}[a-z]*\\)`, "g");
    text = text.replace(own, "$1");
  }
  return text
    .replace(/[\u2500-\u257f]/g, " ")
    .replace(/[\u2010\u2011\u2212]/g, "-")
    .split("\n")
    .map((line) => line.trim())
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/**
 * The pages of sections with at least `minPages` pages, and the sections kept, ascending.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keepSections } from "./manpages.ts";
 * const page = (id: string, section: string) => ({ id, text: id, section });
 * const { pages, sections } = keepSections([page("a", "2"), page("b", "2"), page("c", "5")], 2);
 * assert.deepEqual([pages.map((p) => p.id), sections], [["a", "b"], ["2"]]);
 * ```
 */
export function keepSections(
  pages: readonly ManPage[],
  minPages: number,
): { pages: ManPage[]; sections: string[] } {
  const counts = new Map<string, number>();
  for (const page of pages) counts.set(page.section, (counts.get(page.section) ?? 0) + 1);
  const sections = [...counts].filter(([, n]) => n >= minPages).map(([s]) => s).sort();
  return { pages: pages.filter((page) => sections.includes(page.section)), sections };
}

/**
 * The pages of each split (70/10/20 by a hash of the seed and the id), in input order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitPages } from "./manpages.ts";
 * const pages = ["a.2", "b.3", "c.7"].map((id) => ({ id, text: id, section: id.at(-1)! }));
 * const split = splitPages(pages, "maskconv");
 * assert.equal(split.train.length + split.valid.length + split.test.length, 3);
 * ```
 */
export function splitPages(pages: readonly ManPage[], seed: string): Record<Split, ManPage[]> {
  const split: Record<Split, ManPage[]> = { train: [], valid: [], test: [] };
  for (const page of pages) split[splitOf(page.id, seed, "manpages")].push(page);
  return split;
}

function fail(message: string): never {
  console.error(`manpages: ${message}`);
  Deno.exit(2);
}

function command(name: string, args: string[], env?: Record<string, string>) {
  try {
    return new Deno.Command(name, {
      args,
      stdout: "piped",
      stderr: "piped",
      ...(env ? { env, clearEnv: true } : {}),
    }).outputSync();
  } catch {
    return undefined;
  }
}

function installed(pkg: string): boolean {
  const output = command("dpkg-query", ["-W", "-f=${Status}", pkg]);
  return new TextDecoder().decode(output?.stdout).trim() === "install ok installed";
}

/** Installs what is missing of the two page packages and man-db, which renders them. */
function ensurePackages(): void {
  const missing = [...PACKAGES, "man-db"].filter((pkg) => !installed(pkg));
  if (missing.length === 0) return;
  console.error(`running apt-get install -y ${missing.join(" ")}`);
  const { success } = new Deno.Command("apt-get", {
    args: ["install", "-y", ...missing],
    stdout: "inherit",
    stderr: "inherit",
  }).outputSync();
  if (!success) fail(`apt-get install ${missing.join(" ")} failed (it needs root and network)`);
}

async function readRoff(path: string): Promise<string> {
  const bytes = await Deno.readFile(path);
  if (!path.endsWith(".gz")) return new TextDecoder().decode(bytes);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

function render(path: string): string {
  const env = {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    LC_ALL: "C.UTF-8",
    MANROFFOPT: "-P-cbou",
  };
  const output = command("man", ["-l", "--nh", "--nj", "-Tutf8", path], env);
  if (!output) fail("cannot run man; install man-db");
  if (!output.success) {
    fail(`man -l ${path} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
  return new TextDecoder().decode(output.stdout);
}

async function main(): Promise<void> {
  let flags;
  try {
    flags = parseArgs({
      args: Deno.args,
      options: {
        out: { type: "string" },
        seed: { type: "string" },
        "min-pages": { type: "string" },
      },
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (!flags.out) fail("usage: deno run -A data/manpages.ts --out DIR [--seed S] [--min-pages N]");
  const minPages = Number(flags["min-pages"] ?? 40);
  if (!Number.isInteger(minPages) || minPages < 1) fail("--min-pages must be a positive integer");
  ensurePackages();
  const listing = command("dpkg", ["-L", ...PACKAGES]);
  if (!listing?.success) fail(`dpkg -L ${PACKAGES.join(" ")} failed`);
  const paths = manPagePaths(new TextDecoder().decode(listing.stdout));
  const pages: ManPage[] = [];
  let [links, redirects] = [0, 0];
  const progress = new Progress("rendering man pages", paths.length, "files");
  for (const [i, path] of paths.entries()) {
    progress.update(i);
    if (!(await Deno.lstat(path)).isFile) {
      links++;
      continue;
    }
    if (isRedirect(await readRoff(path))) {
      redirects++;
      continue;
    }
    const [id, section] = [pageId(path), pageSection(path)];
    const rendered = render(path);
    pages.push({ id, text: stripSection(rendered, ownNames(id, rendered), section), section });
  }
  progress.update(paths.length);
  progress.done();
  const kept = keepSections(pages, minPages);
  console.log(
    `${paths.length} files: ${links} symlinks and ${redirects} .so redirects skipped,` +
      ` ${pages.length} pages (sections: ${countList(pages.map((p) => p.section))})`,
  );
  console.log(`kept sections with >= ${minPages} pages: ${kept.sections.join(", ")}`);
  console.log(`all: ${wordSummary(kept.pages.map((p) => p.text))}`);
  const split = splitPages(kept.pages, flags.seed ?? "maskconv");
  for (const name of SPLITS) {
    console.log(`${name}: ${countList(split[name].map((p) => p.section))}`);
  }
  const rows = Object.fromEntries(
    SPLITS.map((name) => [name, split[name].map((p) => [p.id, p.text, p.section])]),
  ) as Record<Split, string[][]>;
  writeSplits(flags.out, COLUMNS, rows, "text");
}

if (import.meta.main) await main();
