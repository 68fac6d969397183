/**
 * The HTML page of a model's explanations, rendered from plain data: every document's words in
 * the colour of their most probable target (hover a word for its whole distribution), the
 * predicted and true values, the training curves and per-target summaries. The page is one
 * self-contained file: inline CSS, SVG and a little script, nothing fetched.
 *
 * @module
 */

import STYLE from "./report_page.css" with { type: "text" };
import SCRIPT from "./report_page.js" with { type: "text" };
import {
  distinctWordsReadBy,
  probabilityOf,
  type WordDistribution,
} from "../evaluation/inference.ts";

/** One word of a document: where it is in the text and what the masker made of it. */
export interface ReportWord {
  /** Offset of the word's first UTF-16 code unit in the document's text. */
  start: number;
  /** Offset just past the word. */
  end: number;
  /** Its most probable classes and those of the predicted labels (0 is "none", t+1 target t). */
  distribution: WordDistribution;
}

/** One document as the report shows it. */
export interface ReportDocument {
  /** Its heading: the id column's value, or where the row is in the file. */
  name: string;
  text: string;
  /** The words the model read, in text order. */
  words: ReportWord[];
  /** Offset from which the model read no more (the document was longer than its max length). */
  unreadFrom?: number;
  /** Per target: probabilities over its classes (aspects) or [p(label)] (labels mode). */
  probabilities: number[][];
  /** Labels mode, when the data has a labels column: the document's true labels. */
  trueLabels?: string[];
  /** Aspects mode, when the data has the target columns: per target its value (null: missing). */
  trueValues?: (string | null)[];
}

/** What a target does across all the documents predicted. */
export interface TargetSummary {
  /** Share of all words whose most probable class is this target. */
  share: number;
  /** The words it selected most often, most frequent first, with their counts. */
  topWords: [string, number][];
}

/** The rows of a model's `metrics.csv` that the chart draws. */
export interface TrainingCurves {
  /** Name of the validation metric, e.g. "micro_f1". */
  metric: string;
  epochs: { epoch: number; trainLoss: number; validValue: number }[];
  /** The epoch whose model was kept. */
  bestEpoch?: number;
}

/** Everything the page shows. */
export interface ReportData {
  title: string;
  /** Short lines shown under the title: model folder, data file, threshold… */
  facts: string[];
  mode: "aspects" | "labels";
  targets: string[];
  /** Per target its class values (aspects) or ["1"] (labels). */
  classes: string[][];
  /** Labels mode: the probability from which a label is predicted. */
  threshold: number;
  documents: ReportDocument[];
  /** Documents of the data that are not shown (past the limit). */
  omitted: number;
  /** Per target, counted over `summaryDocuments` documents. */
  summaries: TargetSummary[];
  summaryDocuments: number;
  /** Absent when the model folder has no metrics.csv. */
  curves?: TrainingCurves;
}

/** Targets listed in a word's tooltip; the rest are counted in one line. */
export const TOOLTIP_CLASSES = 10;

/**
 * A background colour per target that keeps dark text readable and still tells hundreds of
 * targets apart: hues step by the golden angle, so neighbours in the list differ most, and
 * lightness and saturation cycle with co-prime periods, so targets of similar hue differ in tone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { targetColours } from "./report_html.ts";
 * const colours = targetColours(300);
 * assert.equal(new Set(colours).size, 300);
 * assert.match(colours[0], /^rgb\(\d+, \d+, \d+\)$/);
 * ```
 */
export function targetColours(count: number): string[] {
  const lightness = [0.8, 0.7, 0.88];
  const saturation = [0.9, 0.62, 0.78, 0.5, 0.7];
  return Array.from({ length: count }, (_, t) => {
    const hue = (t * 137.50776405) % 360;
    const [r, g, b] = hslToRgb(hue, saturation[t % 5], lightness[t % 3]);
    return `rgb(${r}, ${g}, ${b})`;
  });
}

function hslToRgb(hue: number, s: number, l: number): [number, number, number] {
  const chroma = (1 - Math.abs(2 * l - 1)) * s;
  const channel = (n: number) => {
    const k = (n + hue / 30) % 12;
    return Math.round(255 * (l - chroma / 2 * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [channel(0), channel(8), channel(4)];
}

function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/** JSON that is safe inside a `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replaceAll("<", "\\u003c");
}

const probability = (p: number) => p.toFixed(3);
const percent = (share: number) => `${(100 * share).toFixed(1)}%`;

/** The most probable class of a word: 0 = none, t+1 = target t. */
function wordClass(word: ReportWord): number {
  return word.distribution.classes[0];
}

/**
 * A word's tooltip data: its most probable classes as "class:p" pairs, "none" always among them,
 * and how many of the `classes` (T+1) are not shown.
 */
function tooltipData(
  word: ReportWord,
  classes: number,
): { pairs: string; others: string; more: number } {
  const { classes: kept, p } = word.distribution;
  const shown = Array.from(kept.subarray(0, TOOLTIP_CLASSES), (c, i) => [c, p[i]]);
  if (!shown.some(([c]) => c === 0)) shown.push([0, probabilityOf(word.distribution, 0)!]);
  // The kept targets past the tooltip's (the predicted labels), for the per-label view.
  const others = Array.from(kept.subarray(TOOLTIP_CLASSES), (c, i) => [c, p[TOOLTIP_CLASSES + i]])
    .filter(([c, p]) => c > 0 && p > 0);
  const format = (pairs: number[][]) => pairs.map(([c, p]) => `${c}:${probability(p)}`).join(" ");
  return { pairs: format(shown), others: format(others), more: classes - shown.length };
}

/** A document's text with its read words marked; `classes` is T+1. */
function renderText(doc: ReportDocument, classes: number): string {
  let html = "";
  let at = 0;
  for (const word of doc.words) {
    html += escapeHtml(doc.text.slice(at, word.start));
    const c = wordClass(word);
    const { pairs, others, more } = tooltipData(word, classes);
    // The underline's opacity (--p) is the probability of the class the colour shows.
    const highlight = c === 0
      ? 'class="w"'
      : `class="w t${c - 1}" data-t="${c - 1}" style="--p:${word.distribution.p[0].toFixed(2)}"`;
    const moreAttribute = (more ? ` data-more="${more}"` : "") +
      (others ? ` data-w="${others}"` : "");
    html += `<span ${highlight} data-p="${pairs}"${moreAttribute}>${
      escapeHtml(doc.text.slice(word.start, word.end))
    }</span>`;
    at = word.end;
  }
  if (doc.unreadFrom === undefined) return html + escapeHtml(doc.text.slice(at));
  return html + escapeHtml(doc.text.slice(at, doc.unreadFrom)) +
    `<span class="unread" title="past the model's max length: not read">${
      escapeHtml(doc.text.slice(doc.unreadFrom))
    }</span>`;
}

function chip(data: ReportData, label: string, p: number | undefined, mark: string): string {
  const t = data.targets.indexOf(label);
  const colour = t < 0 ? "unknown" : `t${t}`;
  const value = p === undefined ? "" : ` <b>${probability(p)}</b>`;
  return `<span class="chip ${colour} ${mark}">${escapeHtml(label)}${value}</span>`;
}

/** Distinct words shown for each predicted label as the words it reads most. */
const READ_WORDS = 3;

/** Labels mode: under the predictions, the words each predicted label reads most. */
function labelReads(data: ReportData, doc: ReportDocument, predicted: string[]): string {
  const probabilities = doc.words.map((w) => w.distribution);
  const words = doc.words.map((w) => doc.text.slice(w.start, w.end));
  const rows = predicted.map((label) => {
    const read = distinctWordsReadBy(probabilities, words, data.targets.indexOf(label), READ_WORDS);
    return `${chip(data, label, undefined, "")} ${escapeHtml(read.join(", "))}`;
  });
  return rows.length
    ? `<div class="reads"><span class="key">reads most</span> ${rows.join(" · ")}</div>`
    : "";
}

/** Labels mode: the predicted labels with their probabilities, and the true ones if known. */
function labelPredictions(data: ReportData, doc: ReportDocument): string {
  const truth = doc.trueLabels && new Set(doc.trueLabels);
  const ranked = data.targets.map((label, t) => ({ label, p: doc.probabilities[t][0] }))
    .sort((a, b) => b.p - a.p);
  const predicted = ranked.filter((r) => r.p >= data.threshold);
  const mark = (label: string) => truth ? (truth.has(label) ? "hit" : "wrong") : "";
  const best = ranked.slice(0, 3).map((r) => chip(data, r.label, r.p, "below")).join(" ");
  let html = `<div class="pred"><span class="key">predicted</span> ${
    predicted.length
      ? predicted.map((r) => chip(data, r.label, r.p, mark(r.label))).join(" ")
      : `<i>no label reaches ${probability(data.threshold)}; most probable:</i> ${best}`
  }</div>`;
  if (truth) {
    const chosen = new Set(predicted.map((r) => r.label));
    html += `<div class="pred"><span class="key">true</span> ${
      [...truth].map((label) => chip(data, label, undefined, chosen.has(label) ? "hit" : "missed"))
        .join(" ") || "<i>no labels</i>"
    }</div>`;
  }
  return html + labelReads(data, doc, predicted.map((r) => r.label));
}

/** Aspects mode: per target the predicted value and its probability, and the true value. */
function aspectPredictions(data: ReportData, doc: ReportDocument): string {
  const rows = data.targets.map((target, t) => {
    const p = doc.probabilities[t];
    const c = p.indexOf(Math.max(...p));
    const predicted = data.classes[t][c];
    const truth = doc.trueValues?.[t];
    const verdict = truth === undefined || truth === null
      ? ""
      : truth === predicted
      ? "hit"
      : "wrong";
    return `<tr class="${verdict}"><td><span class="sw t${t}"></span> ${escapeHtml(target)}</td>` +
      `<td>${escapeHtml(predicted)}</td><td>${probability(p[c])}</td>` +
      (doc.trueValues ? `<td>${truth === null ? "–" : escapeHtml(truth ?? "")}</td>` : "") +
      "</tr>";
  });
  return `<table class="aspects"><tr><th>target</th><th>predicted</th><th>p</th>${
    doc.trueValues ? "<th>true</th>" : ""
  }</tr>${rows.join("")}</table>`;
}

function briefOutcome(data: ReportData, doc: ReportDocument): string {
  if (data.mode === "labels") {
    const predicted = doc.probabilities.filter((p) => p[0] >= data.threshold).length;
    const truth = doc.trueLabels ? ` · ${doc.trueLabels.length} true` : "";
    return `${predicted} label${predicted === 1 ? "" : "s"} predicted${truth}`;
  }
  if (!doc.trueValues) return `${data.targets.length} targets predicted`;
  const known = doc.trueValues.filter((v) => v !== null).length;
  const right =
    doc.probabilities.filter((p, t) =>
      data.classes[t][p.indexOf(Math.max(...p))] === doc.trueValues![t]
    ).length;
  return `${right} of ${known} known values right`;
}

function renderDocument(data: ReportData, doc: ReportDocument): string {
  const unread = doc.unreadFrom === undefined
    ? ""
    : `<p class="note">The model reads the first ${doc.words.length} words; the greyed rest was not read.</p>`;
  return `<details class="doc" open><summary><span class="name">${escapeHtml(doc.name)}</span>` +
    ` <span class="brief">${briefOutcome(data, doc)}</span></summary>` +
    `<p class="text">${renderText(doc, data.targets.length + 1)}</p>${unread}` +
    (data.mode === "labels" ? labelPredictions(data, doc) : aspectPredictions(data, doc)) +
    "</details>";
}

/** Targets that highlight at least one shown word, in target order. */
function usedTargets(data: ReportData): number[] {
  const used = new Set<number>();
  for (const doc of data.documents) {
    for (const word of doc.words) {
      const c = wordClass(word);
      if (c > 0) used.add(c - 1);
    }
  }
  return [...used].sort((a, b) => a - b);
}

/** Targets that some shown word keeps with a probability above 0: the per-label view's. */
function keptTargets(data: ReportData): number[] {
  const kept = new Set<number>();
  for (const doc of data.documents) {
    for (const { distribution: { classes, p } } of doc.words) {
      classes.forEach((c, i) => c > 0 && p[i] > 0 && kept.add(c - 1));
    }
  }
  return [...kept].sort((a, b) => a - b);
}

function renderToolbar(data: ReportData, used: number[]): string {
  const chips = used.map((t) =>
    `<button class="pick" data-pick="${t}"><span class="sw t${t}"></span>${
      escapeHtml(data.targets[t])
    }</button>`
  ).join("");
  const unused = data.targets.length - used.length;
  const options = used.map((t) => `<option value="${t}">${escapeHtml(data.targets[t])}</option>`);
  return `<div class="toolbar"><label>Highlight <select id="only"><option value="">every target</option>${
    options.join("")
  }</select></label> <label>Words for <select id="for"><option value="">no label</option>${
    keptTargets(data).map((t) => `<option value="${t}">${escapeHtml(data.targets[t])}</option>`)
      .join("")
  }</select></label> <button id="expand">expand all</button> <button id="collapse">collapse all</button>` +
    ` <span class="hint">Hover a word for its probabilities; the underline's strength is the top one. ` +
    `"Words for" a label shades each word by its probability for that label, relative to the ` +
    `document's highest.</span>` +
    `<div class="legend">${chips || "<i>no word is selected for any target</i>"}${
      unused
        ? `<span class="hint">${unused} other target${
          unused === 1 ? "" : "s"
        } select no word here</span>`
        : ""
    }</div></div>`;
}

function renderSummaries(data: ReportData): string {
  const order = data.targets.map((_, t) => t).sort((a, b) =>
    data.summaries[b].share - data.summaries[a].share
  );
  const widest = Math.max(1e-9, ...data.summaries.map((s) => s.share));
  const rows = order.map((t) => {
    const { share, topWords } = data.summaries[t];
    const words = topWords.map(([word, n]) => `${escapeHtml(word)} <small>×${n}</small>`)
      .join(", ");
    return `<tr><td><span class="sw t${t}"></span> ${escapeHtml(data.targets[t])}</td>` +
      `<td class="share"><span class="bar t${t}" style="width:${
        (100 * share / widest).toFixed(1)
      }%"></span>${percent(share)}</td><td>${words || "<i>none</i>"}</td></tr>`;
  });
  return `<section><h2>Targets</h2><p class="note">Counted over ${data.summaryDocuments} document${
    data.summaryDocuments === 1 ? "" : "s"
  }: the share of all words whose most probable class is the target, and the words it selects most often.</p>` +
    `<div class="scroll"><table class="summary"><tr><th>target</th><th>words selected</th><th>most selected words</th></tr>${
      rows.join("")
    }</table></div></section>`;
}

function renderHowTo(data: ReportData): string {
  const outcome = data.mode === "labels"
    ? `A label is predicted from probability ${
      probability(data.threshold)
    }; ✓ marks a true label, a struck-through one is wrong, a dashed outline is a true label the model missed.`
    : "Each document lists every target's predicted value and its probability; wrong values are red.";
  return `<div class="howto"><h3>Reading this page</h3><ul>` +
    "<li>Each word has the colour of the target it most probably serves; plain words serve none. " +
    "The darker the underline, the surer the model.</li>" +
    "<li>Hover a word for its probability for every target (the top ten) and for none.</li>" +
    "<li>Pick a target under Highlight, or click it in the legend, to see its words only.</li>" +
    `<li>${outcome}</li>` +
    "<li>The chart shows the training loss and the validation metric after each epoch; the dashed line marks the epoch whose model was kept.</li>" +
    "</ul></div>";
}

/** Round tick values from at or below `low` to at or above `high`, about `count` steps. */
function niceTicks(low: number, high: number, count: number): number[] {
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const first = Math.floor(low / step) * step;
  // The tolerance keeps float noise in (high − first) / step from adding an empty step.
  const steps = Math.ceil((high - first) / step - 1e-9);
  return Array.from({ length: steps + 1 }, (_, i) => Number((first + i * step).toPrecision(12)));
}

function tickLabel(value: number, ticks: number[]): string {
  const step = ticks.length > 1 ? ticks[1] - ticks[0] : 1;
  return value.toFixed(Math.max(0, -Math.floor(Math.log10(step))));
}

/** The training curves: train loss (left axis) and the validation metric (right axis) per epoch. */
function renderChart(curves: TrainingCurves): string {
  const [width, height] = [640, 300];
  const [left, right, top, bottom] = [60, 60, 34, 46];
  const rows = curves.epochs;
  const first = rows[0].epoch;
  const last = rows[rows.length - 1].epoch;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const x = (epoch: number) =>
    left + (last === first ? plotWidth / 2 : (epoch - first) / (last - first) * plotWidth);
  const axis = (values: number[], floor: number, ceiling: number) => {
    const low = Math.min(floor, ...values);
    const high = Math.max(ceiling, ...values);
    const ticks = niceTicks(low, high > low ? high : low + 1, 5);
    const [min, max] = [ticks[0], ticks[ticks.length - 1]];
    return { ticks, y: (v: number) => top + (1 - (v - min) / (max - min)) * plotHeight };
  };
  const loss = axis(rows.map((r) => r.trainLoss), 0, 0);
  const metric = axis(rows.map((r) => r.validValue), 0, 1);
  const epochStep = Math.max(1, Math.ceil((last - first) / 10));
  const parts: string[] = [];
  for (const v of loss.ticks) {
    const y = loss.y(v).toFixed(1);
    parts.push(
      `<line class="grid" x1="${left}" x2="${width - right}" y1="${y}" y2="${y}"/>`,
      `<text class="tick" x="${left - 6}" y="${y}" text-anchor="end" dy="0.32em">${
        tickLabel(v, loss.ticks)
      }</text>`,
    );
  }
  for (const v of metric.ticks) {
    parts.push(
      `<text class="tick" x="${width - right + 6}" y="${metric.y(v).toFixed(1)}" dy="0.32em">${
        tickLabel(v, metric.ticks)
      }</text>`,
    );
  }
  for (let epoch = first; epoch <= last; epoch += epochStep) {
    parts.push(
      `<text class="tick" x="${x(epoch).toFixed(1)}" y="${
        height - bottom + 16
      }" text-anchor="middle">${epoch}</text>`,
    );
  }
  if (curves.bestEpoch !== undefined) {
    const bx = x(curves.bestEpoch).toFixed(1);
    parts.push(
      `<line class="best" x1="${bx}" x2="${bx}" y1="${top}" y2="${height - bottom}"/>`,
      `<text class="tick" x="${bx}" y="${top + 12}" dx="-4" text-anchor="end">kept</text>`,
    );
  }
  const series = (name: string, label: string, y: (v: number) => number, values: number[]) => {
    const points = rows.map((r, i) => [x(r.epoch).toFixed(1), y(values[i]).toFixed(1)]);
    return `<polyline class="${name}" data-series="${name}" points="${
      points.map((point) => point.join(",")).join(" ")
    }"/>` +
      points.map(([cx, cy], i) =>
        `<circle class="${name}" cx="${cx}" cy="${cy}" r="3.5"><title>epoch ${rows[i].epoch}: ` +
        `${label} ${values[i].toFixed(4)}</title></circle>`
      ).join("");
  };
  const metricLabel = `validation ${curves.metric}`;
  parts.push(
    `<line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}"/>`,
    `<line class="axis" x1="${width - right}" x2="${width - right}" y1="${top}" y2="${
      height - bottom
    }"/>`,
    `<line class="axis" x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${
      height - bottom
    }"/>`,
    series("train-loss", "train loss", loss.y, rows.map((r) => r.trainLoss)),
    series("valid-metric", metricLabel, metric.y, rows.map((r) => r.validValue)),
    `<text class="label" x="${left + plotWidth / 2}" y="${
      height - 8
    }" text-anchor="middle">epoch</text>`,
    `<text class="label train-loss" transform="translate(16 ${
      top + plotHeight / 2
    }) rotate(-90)" text-anchor="middle">train loss</text>`,
    `<text class="label valid-metric" transform="translate(${width - 14} ${
      top + plotHeight / 2
    }) rotate(90)" text-anchor="middle">${escapeHtml(metricLabel)}</text>`,
  );
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="training curves">${
    parts.join("")
  }</svg>`;
}

/**
 * The report page as one HTML string.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderReport } from "./report_html.ts";
 * const html = renderReport({
 *   title: "example", facts: [], mode: "labels", targets: ["sound"], classes: [["1"]],
 *   threshold: 0.5, omitted: 0, summaryDocuments: 1,
 *   summaries: [{ share: 0.5, topWords: [["audio", 1]] }],
 *   documents: [{
 *     name: "doc0", text: "an audio tool", probabilities: [[0.9]],
 *     words: [{
 *       start: 3, end: 8,
 *       distribution: { classes: Int32Array.of(1, 0), p: Float32Array.of(0.8, 0.2) },
 *     }],
 *   }],
 * });
 * assert.match(html, /<span class="w t0" data-t="0"[^>]*>audio<\/span>/);
 * ```
 */
export function renderReport(data: ReportData): string {
  const colours = targetColours(data.targets.length);
  const colourRules = colours.map((colour, t) => `.t${t}{background:${colour}}`).join("\n");
  const used = usedTargets(data);
  const shown = data.documents.length;
  const limitNote = data.omitted
    ? `<p class="note">Showing the first ${shown} of ${
      shown + data.omitted
    } documents; raise --limit to see more.</p>`
    : "";
  const chart = data.curves && data.curves.epochs.length
    ? renderChart(data.curves)
    : '<p class="note">No training curves: the model folder has no metrics.csv.</p>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(data.title)}</title>
<style>${STYLE}
${colourRules}</style></head>
<body><main>
<h1>${escapeHtml(data.title)}</h1>
<ul class="facts">${data.facts.map((f) => `<li>${escapeHtml(f)}</li>`).join("")}</ul>
<section><h2>Training</h2><div class="top">${chart}${renderHowTo(data)}</div></section>
<section><h2>Documents</h2>${limitNote}${renderToolbar(data, used)}
${data.documents.map((doc) => renderDocument(data, doc)).join("\n")}</section>
${renderSummaries(data)}
</main>
<div id="tip" hidden></div>
<script type="application/json" id="report-targets">${scriptJson(data.targets)}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}
