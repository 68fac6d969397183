/**
 * Progress of long steps: one line rewritten in place on a terminal, plain lines (at most one
 * every few seconds, and the last) when the output is a file or a pipe.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * A progress line for `total` units of work.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const progress = new Progress("epoch 1", 3, "docs");
 * for (let i = 1; i <= 3; i++) progress.update(i, `loss 0.${i}`);
 * progress.done();
 * ```
 */
export class Progress {
  #label: string;
  #total: number;
  #unit: string;
  #started = performance.now();
  #lastPrint = -Infinity;
  #tty: boolean;
  #current = 0;
  #detail = "";

  constructor(label: string, total: number, unit: string, tty = Deno.stderr.isTerminal()) {
    this.#label = label;
    this.#total = total;
    this.#unit = unit;
    this.#tty = tty;
  }

  /** Reports `current` of the total done, with a detail such as the running loss. */
  update(current: number, detail = ""): void {
    this.#current = current;
    this.#detail = detail;
    const now = performance.now();
    if (now - this.#lastPrint < (this.#tty ? 100 : 5000)) return;
    this.#lastPrint = now;
    this.#print(false);
  }

  /** Prints the final state and ends the line. */
  done(detail = this.#detail): void {
    this.#detail = detail;
    this.#print(true);
  }

  #print(final: boolean) {
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = this.#current / Math.max(seconds, 1e-9);
    const eta = rate > 0 ? (this.#total - this.#current) / rate : Infinity;
    const share = this.#total ? this.#current / this.#total : 1;
    const bar = this.#tty ? `[${"#".repeat(Math.round(share * 20)).padEnd(20, ".")}] ` : "";
    const text = `${this.#label} ${bar}${this.#current}/${this.#total} ${this.#unit}` +
      `${this.#detail ? `, ${this.#detail}` : ""}, ${rate.toFixed(1)} ${this.#unit}/s, ` +
      (final ? `${seconds.toFixed(1)} s` : `ETA ${Number.isFinite(eta) ? eta.toFixed(0) : "?"} s`);
    Deno.stderr.writeSync(
      encoder.encode(this.#tty ? `\r\x1b[2K${text}${final ? "\n" : ""}` : `${text}\n`),
    );
  }
}
