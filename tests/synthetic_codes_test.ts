import assert from "node:assert/strict";
import { syntheticCodes } from "../data/synthetic_codes.ts";

Deno.test("synthetic codes: 5–15 labels per document, long-tailed, each planted through its own words", () => {
  const options = { labels: 300, documents: 400, words: 60, seed: 3 };
  const rows = syntheticCodes(options);
  assert.deepEqual(syntheticCodes(options), rows);
  const counts = new Map<string, number>();
  for (const [, text, codes] of rows) {
    const labels = codes.split("|");
    assert.ok(labels.length >= 5 && labels.length <= 15, `${labels.length} labels`);
    assert.ok(text.split(" ").length >= 30 + 2 * labels.length);
    for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  // The most frequent label is far more common than a label from the tail.
  assert.ok((counts.get("code0") ?? 0) > 5 * ((counts.get("code250") ?? 0) + 1));
  // A label's documents share words that documents without it rarely read.
  const words = (keep: (codes: string[]) => boolean) =>
    rows.filter(([, , codes]) => keep(codes.split("|"))).map(([, text]) =>
      new Set(text.split(" "))
    );
  const withCode = words((codes) => codes.includes("code0"));
  const without = words((codes) => !codes.includes("code0"));
  const shared = [...withCode[0]].filter((w) =>
    withCode.filter((s) => s.has(w)).length > withCode.length / 2
  );
  const planted = shared.filter((w) =>
    without.filter((s) => s.has(w)).length < without.length / 20
  );
  assert.ok(planted.length >= 1, "code0 has indicative words");
});
