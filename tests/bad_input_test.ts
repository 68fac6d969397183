import assert from "node:assert/strict";
import { stringify } from "csv-stringify/sync";
import { maskconv, SMALL } from "./tiny_run.ts";

// Every bad input runs through the real command line: exit code 2, exactly one line on stderr
// that says where (file, line, field) and what was expected, and no file on disk changed — least
// of all a model trained before, which the train cases name as --out.

const TINY = [
  ...SMALL,
  "--embedding-dim",
  "8",
  "--epochs",
  "1",
  "--min-count",
  "1",
];

/** Documents whose tags follow from their words (labels mode: id,text,tags). */
function documents(n: number, extraTag = ""): string {
  const words = ["the", "tool", "for", "your", "files", "fast", "small", "with"];
  const rows = Array.from({ length: n }, (_, i) => ({
    id: `d${i}`,
    text: [...words.slice(i % 5, (i % 5) + 3), i % 2 ? "audio" : "network"].join(" "),
    tags: [i % 2 ? "sound" : "net", ...(extraTag && i % 3 === 0 ? [extraTag] : [])].join("|"),
  }));
  return stringify(rows, { header: true });
}

/** The folder every case shares: train.csv, valid.csv and a model trained on them. */
interface Shared {
  dir: string;
  train: string;
  valid: string;
  model: string;
}

let sharedRun: Promise<Shared> | undefined;

/** Trains the shared model once, in the first test that needs it. */
function shared(): Promise<Shared> {
  sharedRun ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "maskconv-bad-input-" });
    const paths = {
      dir,
      train: `${dir}/train.csv`,
      valid: `${dir}/valid.csv`,
      model: `${dir}/model`,
    };
    await Deno.writeTextFile(paths.train, documents(24));
    await Deno.writeTextFile(paths.valid, documents(8));
    const trained = await maskconv(
      "train",
      "--train",
      paths.train,
      "--valid",
      paths.valid,
      "--out",
      paths.model,
      "--labels-column",
      "tags",
      ...TINY,
    );
    if (trained.code !== 0) throw new Error(`training the shared model failed:\n${trained.stderr}`);
    return paths;
  })();
  return sharedRun;
}

/** What a case may use: the shared files and its own empty folder. */
interface Context extends Shared {
  /** The case's own folder. */
  own: string;
  /** Writes `content` to `name` in the case's folder and returns its path. */
  write(name: string, content: string | Uint8Array): Promise<string>;
  /** Copies the shared model into the case's folder (to damage it there); returns its path. */
  copyModel(): Promise<string>;
}

function context(base: Shared, own: string): Context {
  const write = async (name: string, content: string | Uint8Array) => {
    const path = `${own}/${name}`;
    await Deno.writeFile(path, typeof content === "string" ? encode(content) : content);
    return path;
  };
  const copyModel = async () => {
    const model = `${own}/model`;
    await Deno.mkdir(model);
    for await (const entry of Deno.readDir(base.model)) {
      await Deno.copyFile(`${base.model}/${entry.name}`, `${model}/${entry.name}`);
    }
    return model;
  };
  return { ...base, own, write, copyModel };
}

const encode = (text: string) => new TextEncoder().encode(text);

/** Every file under `dir` with the SHA-256 of its bytes. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) Object.assign(files, await snapshot(path));
    else {
      const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
      files[path] = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join(
        "",
      );
    }
  }
  return files;
}

/** A model folder's weights with the header rewritten by `change` (the data kept as it is). */
async function rewriteHeader(
  path: string,
  change: (header: Record<string, Record<string, unknown>>) => void,
): Promise<void> {
  const bytes = await Deno.readFile(path);
  const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  change(header);
  const json = encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + bytes.length - 8 - length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(bytes.subarray(8 + length), 8 + json.length);
  await Deno.writeFile(path, out);
}

async function rewriteJson(path: string, change: (json: Record<string, unknown>) => void) {
  const json = JSON.parse(await Deno.readTextFile(path));
  change(json);
  await Deno.writeTextFile(path, JSON.stringify(json));
}

/** `train` on the shared files into the shared model's folder, with `flags` replacing defaults. */
const trainOver = (c: Shared, ...flags: string[]) => [
  "train",
  "--train",
  c.train,
  "--valid",
  c.valid,
  "--out",
  c.model,
  ...TINY,
  ...flags,
];

/** `train` on `file` (as training data) into the shared model's folder. */
const trainOn = (c: Context, file: string, ...flags: string[]) =>
  trainOver({ ...c, train: file }, "--labels-column", "tags", ...flags);

/** `eval` of a model folder on the shared validation data. */
const evalModel = (c: Context, model: string) => ["eval", "--model", model, "--data", c.valid];

const GOOD_HEADER = "id,text,tags\nd0,the audio tool,sound\n";

interface BadInput {
  /** The bad input, as the test's name shows it. */
  input: string;
  /** Prepares the case's files and gives the command line. */
  args: (c: Context) => string[] | Promise<string[]>;
  /** The one line on stderr (after "maskconv: "). */
  error: RegExp;
}

const BAD_INPUTS: BadInput[] = [
  // CSV files.
  {
    input: "a training CSV with an unclosed quote",
    args: async (c) =>
      trainOn(c, await c.write("quote.csv", `${GOOD_HEADER}d1,"never closed,net\nd2,more,net\n`)),
    error: /quote\.csv:3: Quote Not Closed/,
  },
  {
    input: "a training CSV with a row missing a field",
    args: async (c) => trainOn(c, await c.write("ragged.csv", `${GOOD_HEADER}d1,short\n`)),
    error:
      /ragged\.csv:3: 2 fields but the header has 3 \(id,text,tags\); field "tags" is missing$/,
  },
  {
    input: "a training CSV with a row holding an extra field",
    args: async (c) => trainOn(c, await c.write("long.csv", `${GOOD_HEADER}d1,a,net,x\n`)),
    error: /long\.csv:3: 4 fields but the header has 3 .*; field 4 has no column$/,
  },
  {
    input: "a validation CSV with a ragged row after a multi-line field",
    args: async (c) =>
      trainOver(
        { ...c, valid: await c.write("valid.csv", `${GOOD_HEADER}d1,"two\nlines",net\nd2,x\n`) },
        "--labels-column",
        "tags",
      ),
    error: /valid\.csv:5: 2 fields but the header has 3/,
  },
  {
    input: "a --text-column that is not in the CSV",
    args: (c) => trainOver(c, "--labels-column", "tags", "--text-column", "body"),
    error: /train\.csv:1: no column "body"; the columns are id,text,tags$/,
  },
  {
    input: "a misspelled --labels-column",
    args: (c) => trainOver(c, "--labels-column", "tgas"),
    error:
      /train\.csv:1: no column "tgas" \(did you mean "tags"\?\); the columns are id,text,tags$/,
  },
  {
    input: "a training CSV with an empty text field",
    args: async (c) => trainOn(c, await c.write("empty_text.csv", `${GOOD_HEADER}d1,,net\n`)),
    error: /empty_text\.csv:3: field "text" is empty$/,
  },
  {
    input: "a training CSV whose text is only blanks",
    args: async (c) => trainOn(c, await c.write("blank.csv", `${GOOD_HEADER}d1,"   ",net\n`)),
    error: /blank\.csv:3: field "text" is empty$/,
  },
  {
    input: "a labels column with no labels at all",
    args: async (c) => trainOn(c, await c.write("nolabels.csv", "id,text,tags\nd0,a,\nd1,b, | \n")),
    error: /nolabels\.csv: column "tags" holds no labels$/,
  },
  {
    input: "an aspect column with a single value",
    args: async (c) =>
      trainOver(
        { ...c, train: await c.write("aspects.csv", "text,food\ngood soup,good\nnice,good\n") },
        "--label-columns",
        "food",
      ),
    error: /aspects\.csv: column "food" has 1 distinct value\(s\); a target needs at least 2$/,
  },
  {
    input: "a training CSV with a Latin-1 byte on line 4",
    args: async (c) => {
      const latin1 = Uint8Array.from([...encode(`${GOOD_HEADER}d1,ok,net\nd2,caf`), 0xe9, 0x0a]);
      return trainOn(c, await c.write("latin1.csv", latin1));
    },
    error: /latin1\.csv:4: not valid UTF-8; save the file with UTF-8 encoding$/,
  },
  {
    input: "an empty training CSV",
    args: async (c) => trainOn(c, await c.write("empty.csv", "")),
    error: /empty\.csv: empty file, expected a header line$/,
  },
  {
    input: "a training CSV with only its header",
    args: async (c) => trainOn(c, await c.write("header.csv", "id,text,tags\r\n")),
    error: /header\.csv: only a header line; expected at least one document$/,
  },
  {
    input: "a header naming a column twice",
    args: async (c) => trainOn(c, await c.write("twice.csv", "id,text,text\nd0,a,b\n")),
    error: /twice\.csv:1: column "text" appears twice in the header$/,
  },
  {
    input: "a header with a nameless column",
    args: async (c) => trainOn(c, await c.write("nameless.csv", "id,,tags\nd0,a,b\n")),
    error: /nameless\.csv:1: column 2 of the header has no name$/,
  },
  {
    input: "a --train file that does not exist",
    args: (c) => trainOn(c, `${c.own}/missing.csv`),
    error: /missing\.csv: no such file$/,
  },
  // Word vectors.
  {
    input: "a word-vector file with a shorter vector on line 3",
    args: async (c) =>
      trainOver(
        c,
        "--labels-column",
        "tags",
        "--embeddings",
        await c.write("vectors.txt", "tool 0.1 0.2\nfor 0.3 0.4\nyour 0.5\n"),
      ),
    error: /vectors\.txt:3: 1 values, expected 2 like the first vector$/,
  },
  {
    input: "a word-vector file with a value that is not a number",
    args: async (c) =>
      trainOver(
        c,
        "--labels-column",
        "tags",
        "--embeddings",
        await c.write("vectors.txt", "3 2\ntool 0.1 0.2\nfor 0.3 abc\n"),
      ),
    error: /vectors\.txt:3: value 2 "abc" is not a number$/,
  },
  {
    input: "a word-vector file that does not exist",
    args: (c) =>
      trainOver(c, "--labels-column", "tags", "--embeddings", `${c.own}/missing_vectors.txt`),
    error: /missing_vectors\.txt: cannot open the word-vector file$/,
  },
  {
    input: "--embeddings naming a folder",
    args: (c) => trainOver(c, "--labels-column", "tags", "--embeddings", c.own),
    error: /maskconv-case-\w+: a folder, expected a word-vector file$/,
  },
  // Model folders.
  {
    input: "a --model folder that does not exist",
    args: (c) => evalModel(c, `${c.own}/nothing`),
    error: /nothing: no such model folder; train one with maskconv train --out /,
  },
  {
    input: "a --model that is a file",
    args: (c) => evalModel(c, c.train),
    error: /train\.csv: not a folder; --model takes the folder written by maskconv train$/,
  },
  ...["config.json", "vocab.txt", "model.safetensors"].map((file): BadInput => ({
    input: `a model folder without ${file}`,
    args: async (c) => {
      const model = await c.copyModel();
      await Deno.remove(`${model}/${file}`);
      return evalModel(c, model);
    },
    error: new RegExp(`model/${file.replace(".", "\\.")}: missing; is this a folder written by`),
  })),
  {
    input: "weights with one data byte flipped",
    args: async (c) => {
      const model = await c.copyModel();
      const bytes = await Deno.readFile(`${model}/model.safetensors`);
      bytes[bytes.length - 5] ^= 0x10;
      await Deno.writeFile(`${model}/model.safetensors`, bytes);
      return evalModel(c, model);
    },
    error: /model\.safetensors: not a valid safetensors file: data checksum mismatch/,
  },
  {
    input: "weights cut short",
    args: async (c) => {
      const model = await c.copyModel();
      const bytes = await Deno.readFile(`${model}/model.safetensors`);
      await Deno.writeFile(`${model}/model.safetensors`, bytes.subarray(0, bytes.length - 100));
      return evalModel(c, model);
    },
    error:
      /model\.safetensors: not a valid safetensors file: tensor \S+ has data offsets \[\d+,\d+\] outside the \d+-byte data$/,
  },
  {
    input: "weights shorter than the header length",
    args: async (c) => {
      const model = await c.copyModel();
      await Deno.writeFile(`${model}/model.safetensors`, Uint8Array.of(1, 2, 3));
      return evalModel(c, model);
    },
    error:
      /model\.safetensors: not a valid safetensors file: shorter than its 8-byte header length$/,
  },
  {
    input: "a weights header whose shape does not fit the byte range",
    args: async (c) => {
      const model = await c.copyModel();
      await rewriteHeader(`${model}/model.safetensors`, (h) => {
        h["encoder.bias"].shape = [5];
      });
      return evalModel(c, model);
    },
    error: /tensor encoder\.bias of shape \[5\] needs 20 bytes, its range holds 16$/,
  },
  {
    input: "a weights header with a transposed shape",
    args: async (c) => {
      const model = await c.copyModel();
      await rewriteHeader(`${model}/model.safetensors`, (h) => {
        h["masker.out.weight"].shape = [3, 4];
      });
      return evalModel(c, model);
    },
    error:
      /model\.safetensors: tensor masker\.out\.weight has shape \[3,4\], the model needs \[4,3\]$/,
  },
  {
    input: "weights without one tensor",
    args: async (c) => {
      const model = await c.copyModel();
      await rewriteHeader(`${model}/model.safetensors`, (h) => {
        delete h["encoder.bias"];
      });
      return evalModel(c, model);
    },
    error: /model\.safetensors: tensor encoder\.bias is missing$/,
  },
  {
    input: "weights stored as F16",
    args: async (c) => {
      const model = await c.copyModel();
      await rewriteHeader(`${model}/model.safetensors`, (h) => {
        h["encoder.bias"].dtype = "F16";
      });
      return evalModel(c, model);
    },
    error: /tensor encoder\.bias has dtype F16, expected F32$/,
  },
  {
    input: "a config.json that is not JSON",
    args: async (c) => {
      const model = await c.copyModel();
      await Deno.writeTextFile(`${model}/config.json`, '{"format": "maskconv-mtm",');
      return evalModel(c, model);
    },
    error: /config\.json: not valid JSON$/,
  },
  {
    input: "a config.json holding null",
    args: async (c) => {
      const model = await c.copyModel();
      await Deno.writeTextFile(`${model}/config.json`, "null\n");
      return evalModel(c, model);
    },
    error: /config\.json: not a maskconv model$/,
  },
  {
    input: "a config.json of another tool",
    args: async (c) => {
      const model = await c.copyModel();
      await Deno.writeTextFile(`${model}/config.json`, '{"format": "other", "hidden": 3}');
      return evalModel(c, model);
    },
    error: /config\.json: not a maskconv model \(format "other"\)$/,
  },
  {
    input: "a config.json with 0 filters",
    args: async (c) => {
      const model = await c.copyModel();
      await rewriteJson(`${model}/config.json`, (json) => {
        (json.config as Record<string, unknown>).filters = 0;
      });
      return evalModel(c, model);
    },
    error: /config\.json: config\.filters 0: must be positive$/,
  },
  {
    input: "a config.json with a threshold of 2",
    args: async (c) => {
      const model = await c.copyModel();
      await rewriteJson(`${model}/config.json`, (json) => {
        json.threshold = 2;
      });
      return evalModel(c, model);
    },
    error: /config\.json: "threshold" must be a probability, not 2$/,
  },
  {
    input: "a config.json without its targets",
    args: async (c) => {
      const model = await c.copyModel();
      await rewriteJson(`${model}/config.json`, (json) => {
        delete json.space;
      });
      return evalModel(c, model);
    },
    error: /config\.json: "space" must be \{mode, targets, classes\} .*, not undefined$/,
  },
  {
    input: "a vocab.txt one word short of config.json",
    args: async (c) => {
      const model = await c.copyModel();
      const words = (await Deno.readTextFile(`${model}/vocab.txt`)).trimEnd().split("\n");
      await Deno.writeTextFile(`${model}/vocab.txt`, words.slice(0, -1).join("\n") + "\n");
      return evalModel(c, model);
    },
    error: /vocab\.txt: (\d+) words, config\.json says (?!\1)\d+$/,
  },
  {
    input: "a vocab.txt that is not one",
    args: async (c) => {
      const model = await c.copyModel();
      await Deno.writeTextFile(`${model}/vocab.txt`, "the\ncat\n");
      return evalModel(c, model);
    },
    error: /vocab\.txt:1: expected "<pad>" \(id 0\), not a vocab\.txt\?$/,
  },
  // Hyper-parameters and flags.
  {
    input: "a negative --lr",
    args: (c) => trainOver(c, "--labels-column", "tags", "--lr=-0.01"),
    error: /--lr -0\.01: must be positive$/,
  },
  {
    input: "a negative --lr written with a space, which parseArgs takes for a flag",
    args: (c) => trainOver(c, "--labels-column", "tags", "--lr", "-0.01"),
    error: /argument is ambiguous.*'--lr=-XYZ'/,
  },
  {
    input: "a valid run pointed at a folder that already holds a model",
    args: (c) => trainOver(c, "--labels-column", "tags"),
    error:
      /already holds a model \(config\.json\); continue it with --resume .*, or choose another --out$/,
  },
  {
    input: "an --out folder that cannot be made (under a file)",
    args: async (c) => {
      const file = await c.write("plain.txt", "not a folder");
      return [
        "train",
        "--train",
        c.train,
        "--valid",
        c.valid,
        "--out",
        `${file}/model`,
        ...TINY,
        "--labels-column",
        "tags",
      ];
    },
    error: /plain\.txt\/model: cannot create the output folder/,
  },
  {
    input: "an even --widths",
    args: (c) => trainOver(c, "--labels-column", "tags", "--widths", "4"),
    error: /--widths 4: must be odd positive integers$/,
  },
  {
    input: "--widths that are not integers",
    args: (c) => trainOver(c, "--labels-column", "tags", "--widths", "3,x"),
    error: /--widths 3,x: not a list of integers$/,
  },
  {
    input: "--filters 0",
    args: (c) => trainOver(c, "--labels-column", "tags", "--filters", "0"),
    error: /--filters 0: must be positive$/,
  },
  {
    input: "--dropout 1",
    args: (c) => trainOver(c, "--labels-column", "tags", "--dropout", "1"),
    error: /--dropout 1: must be in \[0, 1\)$/,
  },
  {
    input: "--lambda-p 0",
    args: (c) => trainOver(c, "--labels-column", "tags", "--lambda-p", "0"),
    error: /--lambda-p 0: must be in \(0, 1\)$/,
  },
  {
    input: "--mask-scale -1",
    args: (c) => trainOver(c, "--labels-column", "tags", "--mask-scale=-1"),
    error: /--mask-scale -1: must be positive$/,
  },
  {
    input: "--epochs 1.5",
    args: (c) => trainOver(c, "--labels-column", "tags", "--epochs", "1.5"),
    error: /--epochs 1\.5: not an integer$/,
  },
  {
    input: "--batch-size abc",
    args: (c) => trainOver(c, "--labels-column", "tags", "--batch-size", "abc"),
    error: /--batch-size abc: not a number$/,
  },
  {
    input: "--mask nonsense",
    args: (c) => trainOver(c, "--labels-column", "tags", "--mask", "nonsense"),
    error: /--mask nonsense: expected one of soft, gumbel, hard, sparse$/,
  },
  {
    input: "--mask-targets 33",
    args: (c) =>
      trainOver(c, "--labels-column", "tags", "--mask", "sparse", "--mask-targets", "33"),
    error: /--mask-targets 33: must be 1 to 32$/,
  },
  {
    input: "--label-columns without a name",
    args: (c) => trainOver(c, "--label-columns", ","),
    error: /--label-columns ,: no names in the list$/,
  },
  {
    input: "both --label-columns and --labels-column",
    args: (c) => trainOver(c, "--labels-column", "tags", "--label-columns", "tags"),
    error: /give either --label-columns a,b,c \(aspects\) or --labels-column NAME \(labels\)$/,
  },
  {
    input: "neither --label-columns nor --labels-column",
    args: (c) => trainOver(c),
    error: /give either --label-columns a,b,c \(aspects\) or --labels-column NAME \(labels\)$/,
  },
  {
    input: "an unknown flag",
    args: (c) => [...trainOver(c, "--labels-column", "tags"), "--lerning-rate", "0.1"],
    error: /Unknown option '--lerning-rate'/,
  },
  ...["train", "valid", "out"].map((flag): BadInput => ({
    input: `train without --${flag}`,
    args: (c) => {
      const args = trainOver(c, "--labels-column", "tags");
      args.splice(args.indexOf(`--${flag}`), 2);
      return args;
    },
    error: new RegExp(`train needs --${flag}\\b`),
  })),
  {
    input: "train --resume of a folder without a checkpoint",
    args: (c) => ["train", "--resume", c.own],
    error: /checkpoint\.json: no checkpoint to resume from$/,
  },
  {
    input: "an unknown command",
    args: () => ["trian"],
    error: /unknown command "trian"; see maskconv --help$/,
  },
  {
    input: "a stray argument",
    args: (c) => [...evalModel(c, c.model), "extra"],
    error: /unexpected argument "extra"$/,
  },
  // Data for a trained model.
  {
    input: "eval data without the labels column",
    args: async (c) =>
      evalModel({ ...c, valid: await c.write("nolabels.csv", "id,text\nd0,audio\n") }, c.model),
    error: /nolabels\.csv:1: no column "tags"; the columns are id,text$/,
  },
  {
    input: "eval data with an empty text field",
    args: async (c) =>
      evalModel({ ...c, valid: await c.write("empty.csv", `${GOOD_HEADER}d1,,net\n`) }, c.model),
    error: /empty\.csv:3: field "text" is empty$/,
  },
  {
    input: "eval without --data",
    args: (c) => ["eval", "--model", c.model],
    error: /this command needs --data$/,
  },
  {
    input: "predict on ragged data with --out pointing into the model",
    args: async (c) => [
      "predict",
      "--model",
      c.model,
      "--data",
      await c.write("ragged.csv", `${GOOD_HEADER}d1\n`),
      "--out",
      `${c.model}/config.json`,
    ],
    error: /ragged\.csv:3: 1 fields but the header has 3/,
  },
  {
    input: "predict --out into a folder that does not exist",
    args: (c) => ["predict", "--model", c.model, "--data", c.valid, "--out", `${c.own}/no/p.csv`],
    error: /no\/p\.csv: cannot write the file; its folder does not exist$/,
  },
  {
    input: "predict --out naming the model folder",
    args: (c) => ["predict", "--model", c.model, "--data", c.valid, "--out", c.model],
    error: /model: a folder, expected a file name$/,
  },
  {
    input: "eval --data naming a folder",
    args: (c) => ["eval", "--model", c.model, "--data", c.own],
    error: /maskconv-case-\w+: a folder, expected a CSV file$/,
  },
  {
    input: "explain --limit 0",
    args: (c) => ["explain", "--model", c.model, "--data", c.valid, "--limit", "0"],
    error: /--limit 0: must be a positive number$/,
  },
];

for (const bad of BAD_INPUTS) {
  Deno.test(`${bad.input}: exit 2, one line saying where and what, no file changed`, async () => {
    const base = await shared();
    const own = await Deno.makeTempDir({ prefix: "maskconv-case-" });
    const args = await bad.args(context(base, own));
    const before = { ...await snapshot(base.dir), ...await snapshot(own) };
    const result = await maskconv(...args);
    const lines = result.stderr.trimEnd().split("\n");
    assert.equal(result.code, 2, result.stderr);
    assert.equal(lines.length, 1, `one error line expected:\n${result.stderr}`);
    assert.match(lines[0], /^maskconv: /);
    assert.match(lines[0], bad.error);
    assert.deepEqual({ ...await snapshot(base.dir), ...await snapshot(own) }, before);
    await Deno.remove(own, { recursive: true });
  });
}

Deno.test("--debug adds the stack trace that the one-line error leaves out", async () => {
  const base = await shared();
  const result = await maskconv(...trainOver(base, "--labels-column", "tgas"), "--debug");
  assert.equal(result.code, 2);
  assert.match(result.stderr, /DataError: .*no column "tgas"/);
  assert.match(result.stderr, /\n\s+at /);
});

Deno.test("eval reads a CSV with a byte order mark and CRLF line ends", async () => {
  const base = await shared();
  const own = await Deno.makeTempDir({ prefix: "maskconv-case-" });
  const crlf = (await Deno.readTextFile(base.valid)).replaceAll("\n", "\r\n");
  const data = `${own}/bom_crlf.csv`;
  await Deno.writeFile(data, Uint8Array.from([0xef, 0xbb, 0xbf, ...encode(crlf)]));
  const result = await maskconv("eval", "--model", base.model, "--data", data, "--json");
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  assert.equal(report.documents, 8);
  assert.equal(report.unseen_label_values, 0);
  await Deno.remove(own, { recursive: true });
});

Deno.test("eval counts label values unseen in training and still reports the rest", async () => {
  const base = await shared();
  const own = await Deno.makeTempDir({ prefix: "maskconv-case-" });
  const data = `${own}/new_labels.csv`;
  await Deno.writeTextFile(data, documents(8, "video"));
  const json = await maskconv("eval", "--model", base.model, "--data", data, "--json");
  assert.equal(json.code, 0, json.stderr);
  assert.equal(JSON.parse(json.stdout).unseen_label_values, 3, "documents 0, 3 and 6 are video");
  const text = await maskconv("eval", "--model", base.model, "--data", data);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /8 documents; .*; 3 label values unseen in training, left out/);
  await Deno.remove(own, { recursive: true });
});
