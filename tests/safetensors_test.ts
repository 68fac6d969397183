import assert from "node:assert/strict";
import { DataError } from "../base/errors.ts";
import { decodeSafetensors, encodeSafetensors } from "../model/files/safetensors.ts";

const TENSORS = {
  "encoder.weight": { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
  "encoder.bias": { shape: [2], data: new Float32Array([-0.5, 0.25]) },
};

Deno.test("safetensors round-trips tensors and metadata", async () => {
  const bytes = await encodeSafetensors(TENSORS, { format: "maskconv" });
  const { tensors, metadata } = await decodeSafetensors(bytes, "m.safetensors");
  assert.deepEqual(tensors, TENSORS);
  assert.equal(metadata.format, "maskconv");
});

Deno.test("safetensors header follows the format: u64 length, JSON, 8-byte aligned data", async () => {
  const bytes = await encodeSafetensors(TENSORS);
  const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + length) % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  assert.deepEqual(header["encoder.bias"], { dtype: "F32", shape: [2], data_offsets: [0, 8] });
  assert.deepEqual(header["encoder.weight"].data_offsets, [8, 32]);
  assert.equal(bytes.length, 8 + length + 32);
});

Deno.test("safetensors rejects a flipped data byte as a checksum mismatch", async () => {
  const bytes = await encodeSafetensors(TENSORS);
  bytes[bytes.length - 1] ^= 1;
  await assert.rejects(
    () => decodeSafetensors(bytes, "m.safetensors"),
    (e) => e instanceof DataError && /m\.safetensors: .*checksum mismatch/.test(e.message),
  );
});

Deno.test("safetensors rejects a header whose shape does not match the byte range", async () => {
  const bytes = await encodeSafetensors(TENSORS);
  const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + length)).replace(
    '"shape":[2]',
    '"shape":[3]',
  );
  bytes.set(new TextEncoder().encode(text), 8);
  await assert.rejects(
    () => decodeSafetensors(bytes, "m.safetensors"),
    (e) => e instanceof DataError && /encoder\.bias of shape \[3\] needs 12 bytes/.test(e.message),
  );
});

Deno.test("safetensors rejects a file cut short", async () => {
  const bytes = await encodeSafetensors(TENSORS);
  await assert.rejects(
    () => decodeSafetensors(bytes.subarray(0, bytes.length - 4), "m.safetensors"),
    (e) => e instanceof DataError && /outside the 28-byte data/.test(e.message),
  );
});
