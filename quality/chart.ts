/**
 * The quality suite's bar chart: maskconv's and the SVM's headline figure per data set, as a
 * plain SVG file (no library, so it renders the same in any viewer and diffs as text).
 *
 * @module
 */

import { headline, headlineName, type SetResult } from "./results.ts";

const COLOURS = { maskconv: "#1f6fd1", svm: "#d14f1f" };

/** Plot area: y = 1 at TOP, y = 0 at BOTTOM; each set takes GROUP pixels from LEFT on. */
const [TOP, BOTTOM, LEFT, GROUP, BAR] = [56, 256, 60, 150, 44];

function escapeXml(text: string): string {
  return text.replace(
    /[&<>"]/g,
    (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot" }[c]};`,
  );
}

/**
 * The SVG of two bars per data set on a 0–1 scale, labelled with their values.
 *
 * @example
 * ```ts
 * import { qualityChart } from "./chart.ts";
 * import type { Scores } from "./results.ts";
 * const scores = (meanAccuracy: number): Scores =>
 *   ({ mode: "aspects", documents: 10, targets: ["a"], macroF1: 0.5, meanAccuracy });
 * const svg = qualityChart([{
 *   name: "toy", documents: { train: 80, valid: 10, test: 10 }, trainMinutes: 1,
 *   maskconv: scores(0.7), svm: scores(0.8),
 * }]);
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function qualityChart(results: readonly SetResult[]): string {
  // Wide enough for the title even with one data set.
  const width = Math.max(460, LEFT + GROUP * results.length + 20);
  const height = BOTTOM + 50;
  const y = (v: number) => Math.round(BOTTOM - (BOTTOM - TOP) * v);
  const text = (x: number, at: number, content: string, extra = "") =>
    `<text x="${x}" y="${at}" text-anchor="middle"${extra}>${content}</text>`;
  const lines = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    text(
      width / 2,
      18,
      "Held-out test scores: maskconv (default flags) and a linear SVM",
      ' font-size="14"',
    ),
  ];
  for (const tick of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    lines.push(
      `<line x1="${LEFT}" x2="${width - 20}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e5e5"/>` +
        `<text x="${LEFT - 6}" y="${y(tick) + 4}" text-anchor="end">${tick.toFixed(1)}</text>`,
    );
  }
  const systems = [["maskconv", "maskconv"], ["svm", "linear SVM on TF-IDF"]] as const;
  systems.forEach(([system, label], j) => {
    const x = LEFT + 10 + 190 * j;
    lines.push(
      `<rect x="${x}" y="30" width="12" height="12" fill="${COLOURS[system]}"/>` +
        `<text x="${x + 18}" y="40">${label}</text>`,
    );
  });
  results.forEach((r, i) => {
    const centre = LEFT + GROUP * i + GROUP / 2;
    systems.forEach(([system], j) => {
      const value = headline(r[system]);
      const x = centre - BAR - 2 + j * (BAR + 4);
      lines.push(
        `<rect x="${x}" y="${y(value)}" width="${BAR}" height="${y(0) - y(value)}" ` +
          `fill="${COLOURS[system]}"/>` + text(x + BAR / 2, y(value) - 4, value.toFixed(3)),
      );
    });
    lines.push(
      text(centre, BOTTOM + 18, escapeXml(r.name)) +
        text(centre, BOTTOM + 34, headlineName(r.maskconv.mode), ' fill="#555"'),
    );
  });
  lines.push(
    `<line x1="${LEFT}" x2="${width - 20}" y1="${BOTTOM}" y2="${BOTTOM}" stroke="#555"/>`,
    "</svg>",
  );
  return lines.join("\n") + "\n";
}
