/// <reference lib="dom" />
/// <reference lib="deno.ns" />
import assert from "node:assert/strict";
import { chromium, type Page } from "playwright-core";
import { tokenize } from "../data/tokenize.ts";
import { mulberry32 } from "../base/rng.ts";
import { explainHtmlCommand, reportCommand, targetSummaries } from "../model/reporting/report.ts";
import { keptClasses, type WordDistribution } from "../model/evaluation/inference.ts";
import {
  renderReport,
  type ReportData,
  targetColours,
  TOOLTIP_CLASSES,
} from "../model/reporting/report_html.ts";
import { documents } from "./tiny_run.ts";

// Debian's own build: the browser is never downloaded, and it must not reach any network.
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const TRANSPARENT = "rgba(0, 0, 0, 0)";

/**
 * Opens the page in headless Chromium and runs `check` on it; `requests` receives every URL the
 * page asked for, so tests can tell that the report fetches nothing.
 */
async function inBrowser(
  html: string,
  check: (page: Page, requests: string[]) => Promise<void>,
): Promise<void> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); ` +
        "the report's tests look at the page in a real browser",
    );
  }
  const dir = await Deno.makeTempDir({ prefix: "maskconv-report-test-" });
  await Deno.writeTextFile(`${dir}/report.html`, html);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    page.on("request", (request) => requests.push(request.url()));
    await page.goto(`file://${dir}/report.html`);
    await check(page, requests);
  } finally {
    await browser.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const background = (page: Page, selector: string) =>
  page.$eval(selector, (node) => getComputedStyle(node).backgroundColor);

/** [T+1] distribution: "none" gets what the named classes leave. */
function distribution(targets: number, classes: Record<number, number>): WordDistribution {
  const p = new Float32Array(targets + 1);
  for (const [c, value] of Object.entries(classes)) p[Number(c)] = value;
  p[0] = 1 - p.reduce((a, b) => a + b, 0);
  return keptClasses(p, targets + 1, []);
}

/** A labels-mode report of two documents over three targets, trained for four epochs. */
function syntheticReport(): ReportData {
  const targets = ["net", "other", "sound"];
  const text = "A fast network tool for audio files.";
  // Class of each word: network → net (1), audio → sound (3), files → other (2).
  const picks: Record<string, Record<number, number>> = {
    network: { 1: 0.7, 3: 0.1 },
    audio: { 3: 0.8, 2: 0.05 },
    files: { 2: 0.5, 1: 0.2 },
  };
  const words = tokenize(text).map((token) => ({
    start: token.start,
    end: token.end,
    distribution: distribution(3, picks[token.text] ?? { 1: 0.1, 2: 0.05, 3: 0.05 }),
  }));
  const long = "network sound ".repeat(6) + "and the rest nobody read";
  const longTokens = tokenize(long);
  return {
    title: "synthetic report",
    facts: ["labels mode, 3 targets"],
    mode: "labels",
    targets,
    classes: [["1"], ["1"], ["1"]],
    threshold: 0.4,
    documents: [
      {
        name: "doc0",
        text,
        words,
        probabilities: [[0.9], [0.2], [0.7]],
        trueLabels: ["net", "sound", "video"],
      },
      {
        name: "doc1",
        text: long,
        words: longTokens.slice(0, 12).map((token) => ({
          start: token.start,
          end: token.end,
          distribution: distribution(3, token.text === "network" ? { 1: 0.6 } : { 3: 0.6 }),
        })),
        unreadFrom: longTokens[12].start,
        probabilities: [[0.3], [0.1], [0.2]],
      },
    ],
    omitted: 7,
    summaries: [
      { share: 0.2, topWords: [["network", 7]] },
      { share: 0.05, topWords: [["files", 1]] },
      { share: 0.2, topWords: [["sound", 6], ["audio", 1]] },
    ],
    summaryDocuments: 9,
    curves: {
      metric: "micro_f1",
      epochs: [1, 2, 3, 4].map((epoch) => ({
        epoch,
        trainLoss: 2.1 / epoch,
        validValue: 0.2 * epoch,
      })),
      bestEpoch: 4,
    },
  };
}

Deno.test("the training chart draws train loss and validation metric with one point per epoch", async () => {
  await inBrowser(renderReport(syntheticReport()), async (page, requests) => {
    for (const series of ["train-loss", "valid-metric"]) {
      const points = await page.$eval(
        `svg.chart polyline[data-series="${series}"]`,
        (line) => line.getAttribute("points")!.trim().split(/\s+/),
      );
      assert.equal(points.length, 4, series);
      const xs = points.map((p) => Number(p.split(",")[0]));
      assert.ok(xs.every((x, i) => i === 0 || x > xs[i - 1]), `${series}: epochs left to right`);
    }
    const [plotTop, plotBottom] = await page.$eval(
      "svg.chart line.axis",
      (axis) => [Number(axis.getAttribute("y1")), Number(axis.getAttribute("y2"))],
    );
    const ys = await page.$$eval(
      "svg.chart circle",
      (dots) => dots.map((dot) => Number(dot.getAttribute("cy"))),
    );
    assert.ok(ys.every((y) => y >= plotTop && y <= plotBottom), `${ys} within the axes`);
    const labels = await page.$$eval(
      "svg.chart text.label",
      (texts) => texts.map((t) => t.textContent),
    );
    assert.deepEqual(labels, ["epoch", "train loss", "validation micro_f1"]);
    const ticks = await page.$$eval(
      "svg.chart text.tick",
      (texts) => texts.map((t) => t.textContent),
    );
    for (const epoch of ["1", "2", "3", "4"]) assert.ok(ticks.includes(epoch), `tick ${epoch}`);
    assert.deepEqual(requests, [page.url()], "the page fetches nothing");
  });
});

Deno.test("a highlighted word's background is its target's legend colour; 'none' words stay plain", async () => {
  const colours = targetColours(3);
  await inBrowser(renderReport(syntheticReport()), async (page) => {
    const expected = { network: 0, files: 1, audio: 2 };
    for (const [word, t] of Object.entries(expected)) {
      const selector = `.doc >> nth=0 >> .w:text-is("${word}")`;
      assert.equal(await page.locator(selector).getAttribute("data-t"), String(t), word);
      const legend = await background(page, `.pick[data-pick="${t}"] .sw`);
      assert.equal(legend, colours[t], `legend of target ${t}`);
      assert.equal(
        await page.locator(selector).evaluate((node) => getComputedStyle(node).backgroundColor),
        legend,
        word,
      );
    }
    const plain = page.locator('.doc >> nth=0 >> .w:text-is("fast")');
    assert.equal(
      await plain.evaluate((node) => getComputedStyle(node).backgroundColor),
      TRANSPARENT,
    );
  });
});

Deno.test("hovering a word lists 'none' and every target with its probability, most probable first", async () => {
  await inBrowser(renderReport(syntheticReport()), async (page) => {
    assert.equal(await page.locator("#tip").isVisible(), false);
    await page.hover('.doc >> nth=0 >> .w:text-is("audio")');
    await page.locator("#tip").waitFor({ state: "visible" });
    const rows = await page.$$eval(
      "#tip .row",
      (nodes) => nodes.map((row) => [...row.children].map((cell) => cell.textContent).join(" ")),
    );
    assert.deepEqual(rows, ["sound 0.800", "none 0.150", "other 0.050", "net 0.000"]);
    assert.equal(await page.locator("#tip .word").textContent(), "audio");
    await page.mouse.move(5, 5);
    assert.equal(await page.locator("#tip").isVisible(), false, "the tooltip goes away");
  });
});

Deno.test("the per-label view shades each word by its probability for the label, relative to the document's highest", async () => {
  await inBrowser(renderReport(syntheticReport()), async (page) => {
    const word = (text: string) => `.doc >> nth=0 >> .w:text-is("${text}")`;
    const colourOf = (text: string) =>
      page.locator(word(text)).evaluate((node) => getComputedStyle(node).backgroundColor);
    const alpha = async (text: string) => {
      const colour = await colourOf(text);
      if (colour === TRANSPARENT) return 0;
      return Number(colour.match(/^rgba\(.*, ([\d.]+)\)$/)?.[1] ?? 1);
    };
    await page.selectOption("#for", "0");
    // net: network 0.7 (the document's highest), files 0.2, "fast" 0.1, audio 0.
    assert.equal(await alpha("network"), 1);
    // Browsers keep an alpha in 8 bits and print it rounded to two digits.
    assert.ok(Math.abs(await alpha("files") - 0.2 / 0.7) < 0.01);
    assert.ok(Math.abs(await alpha("fast") - 0.1 / 0.7) < 0.01);
    assert.equal(await alpha("audio"), 0);
    await page.selectOption("#only", "2");
    assert.equal(await page.$eval("#for", (s) => (s as HTMLSelectElement).value), "");
    assert.equal(await colourOf("network"), TRANSPARENT, "back to the top-class highlights");
    assert.equal(await colourOf("audio"), targetColours(3)[2]);
  });
});

Deno.test("choosing a target in the filter or the legend shows that target's highlights only", async () => {
  const colours = targetColours(3);
  await inBrowser(renderReport(syntheticReport()), async (page) => {
    const word = (text: string) => `.doc >> nth=0 >> .w:text-is("${text}")`;
    const colourOf = (text: string) =>
      page.locator(word(text)).evaluate((node) => getComputedStyle(node).backgroundColor);
    await page.selectOption("#only", "2");
    assert.equal(await colourOf("audio"), colours[2]);
    assert.equal(await colourOf("network"), TRANSPARENT);
    assert.equal(await colourOf("files"), TRANSPARENT);
    await page.click('.pick[data-pick="0"]');
    assert.equal(await page.$eval("#only", (s) => (s as HTMLSelectElement).value), "0");
    assert.equal(await colourOf("network"), colours[0]);
    assert.equal(await colourOf("audio"), TRANSPARENT);
    await page.selectOption("#only", "");
    assert.deepEqual(
      [await colourOf("network"), await colourOf("files"), await colourOf("audio")],
      colours,
    );
  });
});

Deno.test("the page shows predicted labels against the true ones, and says what it leaves out", async () => {
  await inBrowser(renderReport(syntheticReport()), async (page) => {
    const chips = (row: number) =>
      page.locator(".doc >> nth=0 >> .pred").nth(row).locator(".chip").evaluateAll((nodes) =>
        nodes.map((node) => `${node.textContent} ${node.className}`)
      );
    assert.deepEqual(await chips(0), ["net 0.900 chip t0 hit", "sound 0.700 chip t2 hit"]);
    assert.deepEqual(await chips(1), [
      "net chip t0 hit",
      "sound chip t2 hit",
      "video chip unknown missed",
    ]);
    // Each predicted label with the words its mask weights most: net 0.7, 0.2, then 0.1 for
    // "A" (first of the ties); sound 0.8, 0.1, then 0.05 for "A".
    assert.equal(
      await page.locator(".doc >> nth=0 >> .reads").innerText(),
      "reads most net network, files, A · sound audio, network, A",
    );
    const text = await page.locator("main").innerText();
    assert.match(text, /no label reaches 0\.400; most probable:/);
    assert.match(text, /Showing the first 2 of 9 documents/);
    assert.match(text, /The model reads the first 12 words/);
    assert.equal(
      await page.locator(".doc >> nth=1 >> .unread").textContent(),
      "and the rest nobody read",
    );
    await page.click("#collapse");
    assert.equal(await page.locator(".doc .text").first().isVisible(), false, "documents collapse");
  });
});

Deno.test("in aspects mode every target's predicted value, probability and true value are listed", async () => {
  const text = "Good food, dear wine and a slow waiter.";
  const classOf: Record<string, number> = { good: 1, food: 1, dear: 2, slow: 3 };
  const data: ReportData = {
    ...syntheticReport(),
    mode: "aspects",
    targets: ["food", "price", "service"],
    classes: [["bad", "good"], ["cheap", "dear"], ["bad", "good"]],
    documents: [{
      name: "review",
      text,
      words: tokenize(text).map((token) => ({
        start: token.start,
        end: token.end,
        distribution: distribution(3, {
          [classOf[token.text] ?? 1]: classOf[token.text] ? 0.7 : 0.1,
        }),
      })),
      probabilities: [[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]],
      trueValues: ["good", "dear", null],
    }],
    omitted: 0,
  };
  await inBrowser(renderReport(data), async (page) => {
    const rows = await page.$$eval(
      ".aspects tr",
      (trs) =>
        trs.map((
          tr,
        ) => [tr.className, ...[...tr.children].map((cell) => cell.textContent!.trim())]),
    );
    assert.deepEqual(rows, [
      ["", "target", "predicted", "p", "true"],
      ["hit", "food", "good", "0.800", "good"],
      ["wrong", "price", "cheap", "0.600", "dear"],
      ["", "service", "good", "0.700", "–"],
    ]);
    assert.equal(await page.locator(".brief").textContent(), "1 of 2 known values right");
    assert.equal(await page.locator('.w:text-is("slow")').getAttribute("data-t"), "2");
  });
});

Deno.test("with hundreds of targets colours stay distinct and a tooltip lists the top ten", async () => {
  const colours = targetColours(400);
  assert.equal(new Set(colours).size, 400);
  const T = 300;
  const next = mulberry32(7);
  const base = syntheticReport();
  const text = "one two three four five";
  const probabilities = Array.from({ length: T }, () => [next()]);
  // Each word keeps its top classes and the predicted labels, as the report's predictAll asks.
  const predicted = probabilities.flatMap(([p], t) => p >= base.threshold ? [t] : []);
  const data: ReportData = {
    ...base,
    targets: Array.from({ length: T }, (_, t) => `tag${t}`),
    classes: Array.from({ length: T }, () => ["1"]),
    documents: [{
      name: "many",
      text,
      words: tokenize(text).map((token) => {
        const raw = Array.from({ length: T + 1 }, () => next() ** 4);
        const total = raw.reduce((a, b) => a + b, 0);
        const p = Float32Array.from(raw, (v) => v / total);
        return {
          start: token.start,
          end: token.end,
          distribution: keptClasses(p, TOOLTIP_CLASSES, predicted),
        };
      }),
      probabilities,
    }],
    summaries: Array.from({ length: T }, () => ({ share: 0, topWords: [] })),
  };
  await inBrowser(renderReport(data), async (page) => {
    await page.hover(".w >> nth=0");
    const rows = await page.$$eval(
      "#tip .row",
      (nodes) => nodes.map((row) => [...row.children].map((cell) => cell.textContent).join(" ")),
    );
    assert.ok(rows.length === 10 || rows.length === 11, `${rows.length} rows`);
    assert.ok(rows.some((row) => row.startsWith("none ")), "'none' is always listed");
    const values = rows.slice(0, 10).map((row) => Number(row.split(" ").pop()));
    assert.ok(values.every((v, i) => i === 0 || v <= values[i - 1]), "sorted, largest first");
    assert.match(await page.locator("#tip .more").textContent() ?? "", /and 29\d more targets/);
    const options = await page.$$eval("#only option", (nodes) => nodes.length);
    assert.ok(options > 1 && options <= T + 1);
  });
});

Deno.test("target summaries count the share of all words and the most selected words", () => {
  const tokens = [["a", "b", "a", "c"], ["a", "d"]];
  const classes = [Int32Array.of(1, 0, 1, 2), Int32Array.of(1, 2)];
  const summaries = targetSummaries(tokens, classes, 3, 1);
  assert.deepEqual(summaries.map((s) => s.share), [3 / 6, 2 / 6, 0]);
  assert.deepEqual(summaries.map((s) => s.topWords), [[["a", 3]], [["c", 1]], []]);
});

Deno.test("report names a missing flag in a DataError", async () => {
  await assert.rejects(() => reportCommand({ model: "m", data: "d.csv" }), {
    name: "DataError",
    message: /--out/,
  });
  await assert.rejects(
    () => reportCommand({ model: "m", data: "d.csv", out: "r.html", limit: "0" }),
    { name: "DataError", message: /--limit/ },
  );
});

Deno.test("the report of a tiny trained model shows its curves, highlights and labels; explain --html pages a typed text", async () => {
  const dir = await Deno.makeTempDir({ prefix: "maskconv-report-model-" });
  await Deno.writeTextFile(`${dir}/train.csv`, documents(48, 1));
  await Deno.writeTextFile(`${dir}/valid.csv`, documents(12, 2));
  const flags = [
    ["--train", `${dir}/train.csv`, "--valid", `${dir}/valid.csv`, "--out", `${dir}/model`],
    ["--labels-column", "tags", "--epochs", "2", "--batch-size", "16", "--min-count", "1"],
    ["--widths", "3", "--filters", "4", "--masker-hidden", "4", "--classifier-hidden", "4"],
    ["--embeddings", "none"],
  ].flat();
  const trained = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../cli.ts", import.meta.url).pathname, "train", ...flags],
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(trained.code, 0, new TextDecoder().decode(trained.stderr));
  const out = `${dir}/report.html`;
  assert.equal(
    await reportCommand({ model: `${dir}/model`, data: `${dir}/valid.csv`, out, limit: "5" }),
    0,
  );
  await inBrowser(await Deno.readTextFile(out), async (page, requests) => {
    const points = await page.$eval(
      'svg.chart polyline[data-series="train-loss"]',
      (line) => line.getAttribute("points")!.trim().split(/\s+/).length,
    );
    assert.equal(points, 2, "two epochs, two points");
    assert.equal(await page.locator(".doc").count(), 5);
    assert.match(await page.locator("main").innerText(), /Showing the first 5 of 12 documents/);
    assert.equal(await page.locator(".doc >> nth=0 >> .name").textContent(), "doc0");
    assert.ok(await page.locator('.doc >> nth=0 >> .pred:has-text("true")').count() === 1);
    await page.hover(".doc >> nth=0 >> .w >> nth=0");
    const tip = await page.locator("#tip").innerText();
    for (const name of ["none", "net", "other", "sound"]) {
      assert.match(tip, new RegExp(`${name}\\s+[01]\\.\\d{3}`), name);
    }
    const highlighted = await page.$$eval(".w[data-t]", (nodes) =>
      nodes.map((node) => [
        node.getAttribute("data-t"),
        getComputedStyle(node).backgroundColor,
      ]));
    assert.ok(highlighted.length > 0, "a two-epoch masker still selects some words");
    for (const [t, colour] of highlighted) {
      assert.equal(colour, await background(page, `.pick[data-pick="${t}"] .sw`));
    }
    assert.deepEqual(requests, [page.url()], "the page fetches nothing");
  });
  const typed = `${dir}/explain.html`;
  assert.equal(
    await explainHtmlCommand({ model: `${dir}/model`, text: "a <small> audio tool", html: typed }),
    0,
  );
  const page = await Deno.readTextFile(typed);
  assert.match(page, /<span [^>]*>&lt;<\/span><span [^>]*>small<\/span>/, "escaped, word by word");
  assert.ok(page.replace(/<[^>]*>/g, "").includes("a &lt;small&gt; audio tool"));
  assert.match(page, /<span class="name">--text<\/span>/);
  await Deno.remove(dir, { recursive: true });
});
