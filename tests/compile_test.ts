import assert from "node:assert/strict";

// `deno compile` fetches its denort runtime from a host these machines cannot reach; with
// DENORT_BIN pointing at a local denort it runs offline. Without one this test cannot run, and
// it says so rather than pass.
const denort = Deno.env.get("DENORT_BIN");
if (!denort) {
  console.warn(
    "compile test skipped: DENORT_BIN is not set (deno compile downloads denort from a host " +
      "this machine cannot reach; see the README's 'Standalone binary' section)",
  );
}

const ROOT = new URL("..", import.meta.url).pathname;

async function run(command: string, args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(command, { args, cwd: ROOT }).output();
  return {
    code,
    stdout: new TextDecoder().decode(stdout),
    stderr: new TextDecoder().decode(stderr),
  };
}

Deno.test({
  name: "deno task compile builds a binary that runs info and gradcheck on its own",
  ignore: !denort,
  fn: async () => {
    const build = await run(Deno.execPath(), ["task", "compile"]);
    assert.equal(build.code, 0, build.stderr);
    const binary = `${ROOT}bin/maskconv`;
    const info = await run(binary, ["info"]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^adapter: /m);
    const check = await run(binary, ["gradcheck", "--json"]);
    assert.equal(check.code, 0, check.stderr);
    assert.equal(JSON.parse(check.stdout).failed, 0);
  },
});
