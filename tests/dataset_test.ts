import assert from "node:assert/strict";
import { DataError } from "../base/errors.ts";
import { parseTable } from "../data/csv.ts";
import { Vocab } from "../data/vocab.ts";
import {
  batchWordBudget,
  encodeDocuments,
  lengthBuckets,
  packSorted,
  paddedLength,
  targetSpace,
  type TaskSpec,
} from "../model/task/dataset.ts";

const table = (csv: string) => parseTable(new TextEncoder().encode(csv), "t.csv");

Deno.test("aspect targets keep their class values in numeric order and mark missing values", () => {
  const spec: TaskSpec = { mode: "aspects", textColumn: "text", labelColumns: ["look", "smell"] };
  const train = table("text,look,smell\ngood,4,10\nbad,2,\nok,10,2\n");
  const space = targetSpace(train, spec);
  assert.deepEqual(space.classes, [["2", "4", "10"], ["2", "10"]]);
  const docs = encodeDocuments(
    table("text,look,smell\nfine,10,\nnew,3,2\n"),
    spec,
    new Vocab([]),
    space,
    8,
  );
  assert.deepEqual([...docs.targets[0]], [2, -1]);
  assert.deepEqual([...docs.targets[1]], [-1, 0]);
  assert.equal(docs.unseenValues, 1);
});

Deno.test("an aspect column with a single value is rejected with its name", () => {
  const spec: TaskSpec = { mode: "aspects", textColumn: "text", labelColumns: ["look"] };
  assert.throws(
    () => targetSpace(table("text,look\na,1\nb,1\n"), spec),
    (e) => e instanceof DataError && /column "look" has 1 distinct value/.test(e.message),
  );
});

Deno.test("label targets drop labels rarer than the minimum count", () => {
  const spec: TaskSpec = {
    mode: "labels",
    textColumn: "text",
    labelsColumn: "tags",
    separator: "|",
  };
  const train = table("text,tags\na,x|y\nb,y\nc,y|z\n");
  const space = targetSpace(train, spec, 2);
  assert.deepEqual(space.targets, ["y"]);
  const docs = encodeDocuments(train, spec, new Vocab(["a"]), space, 8);
  assert.deepEqual(docs.targets.map((t) => [...t]), [[1], [1], [1]]);
  assert.deepEqual([...docs.ids[0]], [2]);
});

Deno.test("length buckets cover every document once, in batches of similar length", () => {
  const lengths = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 300 + 1);
  const batches = lengthBuckets(lengths, 32, 3, 256);
  assert.deepEqual(batches.flat().sort((a, b) => a - b), lengths.map((_, i) => i));
  assert.ok(batches.every((b) => b.length <= 32));
  const spread = batches.map((b) =>
    Math.max(...b.map((i) => lengths[i])) - Math.min(...b.map((i) => lengths[i]))
  );
  // Sorting within windows keeps each batch's lengths close: 32 of 1000 lengths spread over 300.
  assert.ok(spread.reduce((a, b) => a + b, 0) / spread.length < 30);
  assert.notDeepEqual(lengthBuckets(lengths, 32, 4, 256), batches);
  assert.deepEqual(lengthBuckets(lengths, 32, 3, 256), batches);
});

Deno.test("long documents come in smaller batches that keep the padded words in budget", () => {
  const lengths = Array.from({ length: 400 }, (_, i) => (i * 7919) % 1000 + 1);
  const batches = lengthBuckets(lengths, 16, 5, 1024);
  assert.deepEqual(batches.flat().sort((a, b) => a - b), lengths.map((_, i) => i));
  const padded = (b: number[]) =>
    b.length * paddedLength(Math.max(...b.map((i) => lengths[i])), 1024);
  assert.ok(batches.every((b) => b.length <= 16 && padded(b) <= batchWordBudget(16)));
  assert.ok(
    batches.some((b) => b.length < 8),
    "the longest documents share a batch with few others",
  );
  assert.deepEqual(packSorted([0], [5000], 16, 8192), [[0]], "one document always fits");
});

Deno.test("batches pad to a multiple of 16 capped by the maximum length", () => {
  assert.equal(paddedLength(1, 256), 16);
  assert.equal(paddedLength(17, 256), 32);
  assert.equal(paddedLength(300, 256), 256);
  assert.equal(paddedLength(300, 1024), 320);
  assert.equal(paddedLength(700, 1024), 768);
  const shapes = new Set(Array.from({ length: 1024 }, (_, i) => paddedLength(i + 1, 1024)));
  assert.ok(shapes.size <= 24, `${shapes.size} shapes up to 1,024 words`);
});
