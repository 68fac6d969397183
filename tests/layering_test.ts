import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

/** The folders each floor may import from: runtime ← kernels ← model ← commands; data on base. */
const ALLOWED: Record<string, string[]> = {
  base: ["base"],
  kernels: ["base", "kernels"],
  data: ["base", "data"],
  model: ["base", "kernels", "data", "model"],
  commands: ["base", "kernels", "data", "model", "commands"],
};

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** The top folder of every relative import in `path` (its JSDoc examples included). */
function importedFolders(path: string, text: string): string[] {
  const specifiers = [...text.matchAll(/from\s+"(\.{1,2}\/[^"]+)"/g)].map((m) => m[1]);
  return specifiers.map((specifier) => {
    const resolved = new URL(specifier, `file://${ROOT}${path}`).pathname.slice(ROOT.length);
    return resolved.includes("/") ? resolved.split("/")[0] : ".";
  });
}

Deno.test("no file imports from a floor above its own", async () => {
  for (const [floor, allowed] of Object.entries(ALLOWED)) {
    for await (const path of sources(floor)) {
      for (const folder of importedFolders(path, await Deno.readTextFile(`${ROOT}${path}`))) {
        assert.ok(allowed.includes(folder), `${path} imports from ${folder}/`);
      }
    }
  }
});
