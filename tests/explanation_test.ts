import assert from "node:assert/strict";
import { stringify } from "csv-stringify/sync";
import { mulberry32 } from "../base/rng.ts";
import { maskconv } from "./tiny_run.ts";

const LABELS = 8;

/**
 * Documents of filler words in which label i is present exactly when keyword i is: the words
 * that justify each label are known, so the masks can be checked against them.
 */
function keywordDocuments(n: number, seed: number): string {
  const next = mulberry32(seed);
  const filler = Array.from({ length: 60 }, (_, i) => `filler${i}`);
  const rows = Array.from({ length: n }, (_, i) => {
    const labels = Array.from({ length: LABELS }, (_, l) => l).filter(() => next() < 0.25);
    if (!labels.length) labels.push(Math.floor(next() * LABELS));
    const words = Array.from({ length: 16 }, () => filler[Math.floor(next() * filler.length)]);
    for (const l of labels) words.splice(Math.floor(next() * words.length), 0, `keyword${l}`);
    return { id: `doc${i}`, text: words.join(" "), tags: labels.map((l) => `label${l}`).join("|") };
  });
  return stringify(rows, { header: true });
}

/**
 * Trains on keyword documents with `flags` and checks the explanations: selected words go to
 * their document's labels, and deleting the words a label reads undoes it.
 */
async function checkKeywordMasks(flags: string[]) {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/train.csv`, keywordDocuments(1000, 1));
  await Deno.writeTextFile(`${dir}/valid.csv`, keywordDocuments(200, 2));
  const trained = await maskconv(
    ..."train --labels-column tags --lr 0.003 --epochs 6".split(" "),
    ..."--widths 3 --filters 32 --masker-hidden 32 --classifier-hidden 32".split(" "),
    // Made-up keywords: random vectors, kept fixed, so only the masks can learn them.
    ..."--embeddings none --freeze-embeddings".split(" "),
    ...["--train", `${dir}/train.csv`, "--valid", `${dir}/valid.csv`, "--out", `${dir}/model`],
    ...flags,
  );
  assert.equal(trained.code, 0, trained.stderr);
  const evaluated = await maskconv(
    ...["eval", "--model", `${dir}/model`, "--data", `${dir}/valid.csv`, "--json"],
  );
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const report = JSON.parse(evaluated.stdout);
  const { microF1, mask_agreement: agreement, deletion_test: deletion } = report;
  assert.ok(microF1 > 0.9, `micro-F1 ${microF1}`);
  // Masks that explained nothing would send selected words to their document's labels about as
  // often as a random choice (`chance`, about 0.3 here: ~2.4 labels of 8).
  const shown = JSON.stringify(agreement);
  assert.ok(agreement.selected > 0.05, shown);
  assert.ok(agreement.onLabel > 0.5 && agreement.onLabel > 1.5 * agreement.chance, shown);
  // Deleting the 3 words a document's top label reads most must hurt that label far more than
  // deleting 3 random words (of about 18) does.
  assert.equal(deletion.documents, 200);
  const drops = JSON.stringify(deletion);
  assert.ok(deletion.readWords > 0.4 && deletion.readWords > 3 * deletion.randomWords, drops);
  // ERASER: the label's own words carry it, so deleting them hurts more than keeping only them.
  const { rationale_test: rationale } = report;
  assert.equal(rationale.documents, 200);
  assert.ok(
    rationale.comprehensiveness > 3 * Math.abs(rationale.sufficiency),
    JSON.stringify(rationale),
  );
  await Deno.remove(dir, { recursive: true });
  return report;
}

Deno.test("hard masks select the keywords that decide each label, and deleting them undoes the label", async () => {
  await checkKeywordMasks(["--mask", "hard"]);
});
