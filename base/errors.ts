/**
 * The one error the whole tool raises for bad input: its message is the single line a user
 * sees (file, line, field, what to fix), and the commands turn it into exit code 2.
 *
 * @module
 */

/**
 * Bad input data: the message is one line meant for the user (file, line, field, what to fix).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DataError } from "./errors.ts";
 * const error = new DataError("train.csv:3: field \"text\" is empty");
 * assert.equal(error.name, "DataError");
 * ```
 */
export class DataError extends Error {
  /** Lets callers and stack traces tell bad input apart from bugs. */
  override name = "DataError";
}
