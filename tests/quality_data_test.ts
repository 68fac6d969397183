import assert from "node:assert/strict";
import { buildFacetSet, chooseFacets, facetCells, facetValues } from "../data/debtags_facets.ts";
import {
  isRedirect,
  keepSections,
  manPagePaths,
  ownNames,
  pageId,
  pageSection,
  splitPages,
  stripSection,
} from "../data/manpages.ts";
import {
  fixtureSentences,
  type Sentence,
  sentenceRow,
  splitSentences,
} from "../data/sentiment_sentences.ts";
import { type Split, splitOf, SPLITS, unitHash, writeSplits } from "../data/splits.ts";

/** Which split each id went to; fails when an id is in two splits. */
function sides<T>(split: Record<Split, T[]>, id: (item: T) => string): Map<string, Split> {
  const where = new Map<string, Split>();
  for (const name of SPLITS) {
    for (const item of split[name]) {
      assert.ok(!where.has(id(item)), `${id(item)} is in ${where.get(id(item))} and ${name}`);
      where.set(id(item), name);
    }
  }
  return where;
}

const sentences: Sentence[] = Array.from({ length: 600 }, (_, i) => ({
  id: `s-${i}`,
  source: "s",
  text: `sentence number ${i}`,
  sentiment: i % 2 ? "positive" : "negative",
}));

Deno.test("the split is deterministic for a seed, disjoint, and about 70/10/20", () => {
  const first = splitSentences(sentences, "maskconv");
  assert.deepEqual(splitSentences(sentences, "maskconv"), first);
  const where = sides(first, (s) => s.id);
  assert.equal(where.size, sentences.length, "every sentence is in a split");
  const shares = SPLITS.map((name) => first[name].length / sentences.length);
  // 600 draws: a share's standard deviation is at most 0.02, so 0.07 is over 3 of them.
  [0.7, 0.1, 0.2].forEach((want, i) => assert.ok(Math.abs(shares[i] - want) < 0.07, `${shares}`));
  const other = splitSentences(sentences, "another seed");
  assert.notDeepEqual(other, first, "the seed changes the split");
  // A document's side depends on its own key only, not on the others.
  const fewer = splitSentences(sentences.slice(0, 100), "maskconv");
  for (const [id, name] of sides(fewer, (s) => s.id)) assert.equal(where.get(id), name);
});

Deno.test("the man page split is deterministic and disjoint", () => {
  const pages = Array.from({ length: 200 }, (_, i) => ({ id: `p${i}.3`, text: "x", section: "3" }));
  const split = splitPages(pages, "maskconv");
  assert.deepEqual(splitPages(pages, "maskconv"), split);
  assert.equal(sides(split, (p) => p.id).size, pages.length);
  assert.ok(SPLITS.every((name) => split[name].length > 0), "every split holds pages");
});

Deno.test("the split hash is the one data/debtags.ts splits with, and streams are independent", () => {
  // unitHash moved from debtags.ts to splits.ts: values of the old copy pin that it did not change.
  assert.equal(unitHash(""), 0.6689221884589642);
  assert.equal(unitHash("maskconv\0split\0bash"), 0.4379119894001633);
  assert.equal(unitHash("maskconv\0split\0coreutils"), 0.6162915313616395);
  const keys = Array.from({ length: 2000 }, (_, i) => `source${i}`);
  // Keys that Debtags puts in train (stream "split", u < 0.8) still fall 1 in 8 into valid.
  const debtagsTrain = keys.filter((key) => unitHash(`maskconv\0split\0${key}`) < 0.8);
  const shares = { train: 7 / 8, valid: 1 / 8, test: 0 };
  const valid = debtagsTrain.filter((key) =>
    splitOf(key, "maskconv", "facets", shares) === "valid"
  );
  assert.ok(Math.abs(valid.length / debtagsTrain.length - 1 / 8) < 0.03, `${valid.length}`);
  assert.ok(keys.every((key) => splitOf(key, "maskconv", "facets", shares) !== "test"));
});

Deno.test("a facet's class is its tag's value with exactly one tag of the facet, else empty", () => {
  const values = facetValues(["use::editing", "works-with::audio", "works-with::video", "misc"]);
  assert.deepEqual([...values], [["use", "editing"], ["works-with", undefined]]);
  const facets = [
    { name: "interface", values: ["commandline", "x11"], labelled: 2 },
    { name: "use", values: ["editing", "viewing"], labelled: 2 },
    { name: "works-with", values: ["audio", "video"], labelled: 2 },
  ];
  assert.deepEqual(facetCells(["use::editing", "works-with::audio"], facets), [
    "",
    "editing",
    "audio",
  ]);
  assert.deepEqual(
    facetCells(["interface::commandline", "interface::x11", "use::rare-value"], facets),
    ["", "", ""],
    "several tags of a facet, or a value too rare to keep, leave the cell empty",
  );
  assert.deepEqual(facetCells(["use::viewing", "use::viewing"], facets), ["", "viewing", ""]);
});

Deno.test("facets keep values of enough training documents, with two values and enough labels", () => {
  const tags = [
    ...Array(40).fill(["use::editing"]),
    ...Array(35).fill(["use::viewing", "game::arcade"]),
    ...Array(29).fill(["use::rare"]),
    ...Array(60).fill(["game::puzzle", "field::maths"]),
    ...Array(10).fill(["field::arts", "field::maths"]),
  ];
  const facets = chooseFacets(tags, { minValueCount: 30, minLabelled: 70 });
  // use: editing 40 + viewing 35 = 75 labelled (rare dropped); game: arcade 35 + puzzle 60;
  // field: one value only (arts has no single-tag document).
  assert.deepEqual(facets, [
    { name: "game", values: ["arcade", "puzzle"], labelled: 95 },
    { name: "use", values: ["editing", "viewing"], labelled: 75 },
  ]);
  assert.deepEqual(chooseFacets(tags, { minValueCount: 30, minLabelled: 80 }).map((f) => f.name), [
    "game",
  ]);
});

Deno.test("the facet set tests on the Debtags valid documents and splits train by source", () => {
  const doc = (id: string, source: string, tags: string[]) => ({ id, source, text: id, tags });
  const train = Array.from({ length: 400 }, (_, i) => [
    doc(`a${i}`, `src${i}`, [`use::${i % 2 ? "editing" : "viewing"}`]),
    doc(`b${i}`, `src${i}`, [`use::${i % 3 ? "editing" : "viewing"}`]),
  ]).flat();
  const valid = [doc("v1", "v", ["use::editing"]), doc("v2", "w", ["game::arcade"])];
  const set = buildFacetSet(train, valid, "maskconv");
  assert.deepEqual(set.facets.map((f) => f.name), ["use"]);
  assert.deepEqual(set.rows.test.map((d) => d.id), ["v1"], "an unlabelled document is dropped");
  assert.equal(set.unlabelled.test, 1);
  const where = sides(set.rows, (d) => d.id);
  for (let i = 0; i < 400; i++) assert.equal(where.get(`a${i}`), where.get(`b${i}`), "siblings");
  const validShare = set.rows.valid.length / train.length;
  assert.ok(Math.abs(validShare - 1 / 8) < 0.05, `${validShare}`);
  assert.deepEqual(buildFacetSet(train, valid, "maskconv"), set);
});

Deno.test("sentiment rows carry both classes and skip the fixtures' empty placeholder", () => {
  const rows = fixtureSentences("imdb", [
    { text: "A very, very, very slow-moving, aimless movie.  ", class: 0 },
    { text: "10/10  ", class: 1 },
    { text: "", class: null },
  ]).map(sentenceRow);
  assert.deepEqual(rows, [
    ["imdb-0001", "imdb", "A very, very, very slow-moving, aimless movie.", "negative"],
    ["imdb-0002", "imdb", "10/10", "positive"],
  ]);
  assert.throws(() => fixtureSentences("yelp", [{ text: "Odd.", class: 2 }]), /entry 1/);
  for (const name of SPLITS) {
    const classes = new Set(splitSentences(sentences, "maskconv")[name].map((s) => s.sentiment));
    assert.deepEqual([...classes].sort(), ["negative", "positive"], `${name} has both classes`);
  }
});

Deno.test("a repeated sentence stays on one side of the split", () => {
  const copies = ["Works great.", "works  great.", "Works great. "].map((text, i) => ({
    id: `amazon-${i}`,
    source: "amazon",
    text,
    sentiment: "positive" as const,
  }));
  const split = splitSentences([...copies, ...sentences], "maskconv");
  const where = sides(split, (s) => s.id);
  assert.equal(new Set(copies.map((c) => where.get(c.id))).size, 1);
});

const RENDERED = [
  "size_t(3type)                                                    size_t(3type)",
  "",
  "",
  "",
  "NAME",
  "       size_t, ssize_t - count of bytes",
  "",
  "DESCRIPTION",
  "       Used for a count of bytes.  ssize_t(3type) is signed; see",
  "       read(2) and ssize_t(2)x.",
  "       ┌──────────┬───────────────┐",
  "       │Interface │ Attribute     │",
  "       └──────────┴───────────────┘",
  "",
  "",
  "",
  "SEE ALSO",
  "       ptrdiff_t(3type), xsize_t(3type), size_t(5)",
  "",
  "",
  "",
  "Linux man-pages 6.03              2023-02-05                     size_t(3type)",
  "",
].join("\n");

Deno.test("stripping a rendered man page removes its section number", () => {
  const names = ownNames("size_t.3type", RENDERED);
  assert.deepEqual(names, ["size_t", "ssize_t"]);
  const text = stripSection(RENDERED, names, "3");
  assert.equal(
    text,
    [
      "NAME",
      "size_t, ssize_t - count of bytes",
      "",
      "DESCRIPTION",
      "Used for a count of bytes.  ssize_t is signed; see",
      "read(2) and ssize_t(2)x.",
      "",
      "Interface   Attribute",
      "",
      "SEE ALSO",
      "ptrdiff_t(3type), xsize_t(3type), size_t(5)",
    ].join("\n"),
  );
  assert.ok(!/size_t\(3/.test(text.replace(/(ptrdiff|xsize)_t\(3type\)/g, "")));
  assert.ok(!text.includes("Linux man-pages"), "the footer is gone");
  const header = "accept(2)                     System Calls Manual                    accept(2)";
  const page =
    `${header}\n\nNAME\n       accept - accept a connection\n\nLinux   2022   accept(2)\n`;
  const stripped = stripSection(page, ownNames("accept.2", page), "2");
  assert.equal(stripped, "NAME\naccept - accept a connection");
  assert.ok(!/\(2\)|System Calls/.test(stripped), "no trace of section 2");
});

Deno.test("man page files are listed from dpkg, redirects recognised and sections kept by size", () => {
  const listing = [
    "/.",
    "/usr/share/man/man2",
    "/usr/share/man/man2/read.2.gz",
    "/usr/share/man/man3/size_t.3type.gz",
    "/usr/share/man/man3/size_t.3type.gz",
    "/usr/share/man/de/man3/abs.3.gz",
    "/usr/share/doc/manpages/copyright",
  ].join("\n");
  const paths = manPagePaths(listing);
  assert.deepEqual(paths, ["/usr/share/man/man2/read.2.gz", "/usr/share/man/man3/size_t.3type.gz"]);
  assert.deepEqual(paths.map(pageSection), ["2", "3"]);
  assert.deepEqual(paths.map(pageId), ["read.2", "size_t.3type"]);
  assert.ok(isRedirect(".so man3/exp.3\n"));
  assert.ok(isRedirect('.\\" comment\n\n.so man2/read.2\n'));
  assert.ok(!isRedirect(".TH read 2 2023-02-05\n.SH NAME\nread \\- read\n.so other\n"));
  const page = (id: string, section: string) => ({ id, text: id, section });
  const pages = [page("a", "2"), page("b", "7"), page("c", "2"), page("d", "5")];
  assert.deepEqual(keepSections(pages, 2), { pages: [pages[0], pages[2]], sections: ["2"] });
});

Deno.test("the builders write three CSV files with a header row and print one line for each", () => {
  const dir = Deno.makeTempDirSync();
  const lines: string[] = [];
  const rows = {
    train: [["1", "one two three"], ["2", 'a "quoted",\ntext']],
    valid: [["3", "four"]],
    test: [],
  };
  writeSplits(dir, ["id", "text"], rows, "text", (line) => lines.push(line));
  assert.equal(
    Deno.readTextFileSync(`${dir}/train.csv`),
    'id,text\n1,one two three\n2,"a ""quoted"",\ntext"\n',
  );
  assert.equal(Deno.readTextFileSync(`${dir}/test.csv`), "id,text\n");
  assert.deepEqual(lines, [
    `${dir}/train.csv: 2 documents, 3.0 words on average (median 3)`,
    `${dir}/valid.csv: 1 documents, 1.0 words on average (median 1)`,
    `${dir}/test.csv: 0 documents, 0.0 words on average (median 0)`,
  ]);
  Deno.removeSync(dir, { recursive: true });
});
