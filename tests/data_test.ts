import assert from "node:assert/strict";
import { DataError } from "../base/errors.ts";
import { aspectLabels, multiLabels, parseTable, readTable, textColumn } from "../data/csv.ts";
import { tokenize } from "../data/tokenize.ts";
import { buildVocab, encode, loadVocab, PAD_ID, saveVocab, UNK_ID, Vocab } from "../data/vocab.ts";

/** Parses in-memory CSV content labelled `docs.csv` in error messages. */
function parse(content: string | Uint8Array) {
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  return parseTable(bytes, "docs.csv");
}

/** Writes `content` to a temporary file for the duration of `use`. */
function withTempFile(content: string, use: (path: string) => void): void {
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeTextFileSync(path, content);
    use(path);
  } finally {
    Deno.removeSync(path);
  }
}

/** Runs `read` and returns the DataError message it throws. */
function dataErrorOf(read: () => unknown): string {
  try {
    read();
  } catch (err) {
    assert.ok(err instanceof DataError, `expected DataError, got ${err}`);
    assert.ok(!err.message.includes("\n"), "error message is one line");
    return err.message;
  }
  assert.fail("expected a DataError");
}

Deno.test("readTable keeps quoted fields with embedded newlines and skips a byte order mark", () => {
  withTempFile('\uFEFFid,text\n1,"first line\nsecond, with ""quotes"""\n2,plain\n', (path) => {
    const table = readTable(path);
    assert.equal(table.path, path);
    assert.deepEqual(table.columns, ["id", "text"]);
    assert.deepEqual(table.rows, [
      { id: "1", text: 'first line\nsecond, with "quotes"' },
      { id: "2", text: "plain" },
    ]);
  });
});

Deno.test("parseTable gives the line where each row starts, across quoted newlines and blank lines", () => {
  const table = parse('id,text\r\n1,"a\r\nb"\r\n\r\n2,"c"\r\n3,"d\r\n\r\ne"\r\n4,f');
  assert.deepEqual(table.lines, [2, 5, 6, 9]);
});

Deno.test("parseTable reports the line of a ragged row", () => {
  const message = dataErrorOf(() => parse('id,text,tags\n1,"two\nlines",a\n2,short\n'));
  assert.match(message, /^docs\.csv:4: 2 fields but the header has 3/);
  assert.match(message, /field "tags" is missing/);
});

Deno.test("parseTable reports an unclosed quote at the line where its record starts", () => {
  const message = dataErrorOf(() => parse('id,text\n1,ok\n2,"never closed\n3,more\n'));
  assert.match(message, /^docs\.csv:3: Quote Not Closed/);
  assert.doesNotMatch(message, /line 5/);
});

Deno.test("parseTable reports the line of bytes that are not UTF-8", () => {
  const latin1 = new Uint8Array([...new TextEncoder().encode("id,text\n1,ok\n2,caf"), 0xe9, 0x0a]);
  assert.match(dataErrorOf(() => parse(latin1)), /^docs\.csv:3: not valid UTF-8/);
});

Deno.test("readTable reports a missing file as a DataError", () => {
  assert.match(dataErrorOf(() => readTable("/nonexistent/train.csv")), /no such file/);
});

Deno.test("textColumn suggests the closest column when the name is misspelled", () => {
  const table = parse("id,text,labels\n1,hello,a\n");
  const message = dataErrorOf(() => textColumn(table, "txet"));
  assert.match(message, /:1: no column "txet" \(did you mean "text"\?\); the columns are id,text,/);
  assert.doesNotMatch(dataErrorOf(() => textColumn(table, "zzzzzzzz")), /did you mean/);
});

Deno.test("textColumn reports an empty text with its line and field", () => {
  const table = parse('id,text\n1,"multi\nline"\n2," "\n');
  assert.match(dataErrorOf(() => textColumn(table, "text")), /:4: field "text" is empty$/);
});

Deno.test("aspectLabels gives one label per aspect and undefined for empty fields", () => {
  const table = parse("text,food,service\ngood soup,positive,\nslow,,negative\n");
  assert.deepEqual(aspectLabels(table, ["food", "service"]), [
    ["positive", undefined],
    [undefined, "negative"],
  ]);
});

Deno.test("multiLabels splits on the separator and ignores blanks and repeats", () => {
  const table = parse("text,tags\na,x | y|x\nb,\nc,p;q\n");
  assert.deepEqual(multiLabels(table, "tags"), [["x", "y"], [], ["p;q"]]);
  assert.deepEqual(multiLabels(table, "tags", ";")[2], ["p", "q"]);
});

Deno.test("tokenize makes every punctuation mark a token and keeps the original offsets", () => {
  const text = "Hello, World... (C++) costs $5!";
  const tokens = tokenize(text);
  assert.deepEqual(
    tokens.map((token) => token.text),
    ["hello", ",", "world", ".", ".", ".", "(", "c", "+", "+", ")", "costs", "$", "5", "!"],
  );
  for (const token of tokens) {
    assert.equal(text.slice(token.start, token.end).toLowerCase(), token.text);
  }
});

Deno.test("tokenize keeps apostrophes inside words and Unicode words together", () => {
  const text = "Don’t say 'naïve' — l'été 2024 in Москва";
  const words = tokenize(text).map((token) => token.text);
  assert.deepEqual(words, [
    "don't",
    "say",
    "'",
    "naïve",
    "'",
    "—",
    "l'été",
    "2024",
    "in",
    "москва",
  ]);
  const moscow = tokenize(text).at(-1)!;
  assert.equal(text.slice(moscow.start, moscow.end), "Москва");
});

Deno.test("buildVocab keeps words seen minCount times, ordered by count then word", () => {
  const vocab = buildVocab([["b", "c", "a", "b"], ["c", "a", "d"], ["b"]], 2);
  assert.deepEqual(vocab.words, ["<pad>", "<unk>", "b", "a", "c"]);
  assert.equal(vocab.id("<pad>"), PAD_ID);
  assert.equal(vocab.id("d"), UNK_ID);
  assert.equal(vocab.size, 5);
});

Deno.test("saveVocab and loadVocab round-trip every id", () => {
  const vocab = buildVocab([tokenize("the cat sat on the mat, the end.").map((t) => t.text)], 1);
  withTempFile("", (path) => {
    saveVocab(vocab, path);
    const loaded = loadVocab(path);
    assert.deepEqual(loaded.words, vocab.words);
    for (const word of vocab.words) assert.equal(loaded.id(word), vocab.id(word));
  });
});

Deno.test("loadVocab rejects a file without the reserved words or with a repeated word", () => {
  withTempFile("the\ncat\n", (path) => {
    assert.match(dataErrorOf(() => loadVocab(path)), /:1: expected "<pad>"/);
  });
  withTempFile("<pad>\n<unk>\ncat\ndog\ncat\n", (path) => {
    assert.match(dataErrorOf(() => loadVocab(path)), /:5: "cat" appears twice/);
  });
});

Deno.test("encode truncates to maxLen and reports truncated documents and tokens", () => {
  const vocab = new Vocab(["a", "b"]);
  const encoded = encode(vocab, [["a", "b", "x", "a", "b"], ["b"], ["x", "x", "x", "a"]], 3);
  assert.deepEqual(encoded.ids, [
    Int32Array.of(2, 3, UNK_ID),
    Int32Array.of(3),
    Int32Array.of(UNK_ID, UNK_ID, UNK_ID),
  ]);
  assert.equal(encoded.truncatedDocs, 2);
  assert.equal(encoded.truncatedTokens, 3);
  assert.equal(encoded.unknownTokens, 4);
  assert.equal(encoded.keptTokens, 7);
});

Deno.test("the shipped debtags sample parses, tags every document and keeps sources apart", () => {
  const sourcesBySplit = ["train", "valid"].map((split) => {
    const table = readTable(`${import.meta.dirname}/../fixtures/debtags/${split}.csv`);
    assert.deepEqual(table.columns, ["id", "source", "text", "tags"]);
    assert.ok(table.rows.length > 100, `${split} has ${table.rows.length} documents`);
    textColumn(table, "text");
    for (const [i, tags] of multiLabels(table, "tags").entries()) {
      assert.ok(tags.length > 0, `${split}.csv:${table.lines[i]} has no tags`);
    }
    return new Set(table.rows.map((row) => row.source));
  });
  const [train, valid] = sourcesBySplit;
  assert.deepEqual([...train].filter((source) => valid.has(source)), []);
});
