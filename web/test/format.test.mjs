// Unit tests of the message formatter (format.js) and name matching (names.js), with
// hostile inputs: whatever a message holds, the result is plain data whose text is the
// message minus its formatting marks. Run with `cd web && npm test` (node --test).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { parseInline, parseMessage, plainText } from "../static/js/format.js";
import {
  avatarHue,
  completeMention,
  findMentions,
  initials,
  mentionQuery,
  mentions,
  nameKey,
} from "../static/js/names.js";

const KINDS = new Set(["text", "mention", "code", "link", "bold", "italic"]);

/** Every part is a known kind with string text (or children), every href http(s). */
function assertPlainData(parts) {
  for (const part of parts) {
    assert.ok(KINDS.has(part.kind), `unknown kind ${part.kind}`);
    if (part.children) assertPlainData(part.children);
    else assert.equal(typeof part.text, "string");
    if (part.kind === "link") assert.match(part.href, /^https?:\/\//u);
  }
}

function kinds(parts) {
  return parts.map((p) => (p.children ? `${p.kind}(${kinds(p.children)})` : p.kind)).join(",");
}

describe("formatting", () => {
  test("bold, italic, code, links and mentions", () => {
    const parts = parseInline("**a** _b_ `c` https://x.org/ @bob", ["bob"]);
    assert.equal(kinds(parts), "bold(text),text,italic(text),text,code,text,link,text,mention");
    assert.equal(plainText([{ kind: "paragraph", inline: parts }]), "a b c https://x.org/ @bob");
  });

  test("code spans keep their marks and links as typed", () => {
    const [code] = parseInline("`**x** https://x.org _y_`");
    assert.deepEqual(code, { kind: "code", text: "**x** https://x.org _y_" });
  });

  test("underscores inside words and URLs are not italics", () => {
    for (const text of ["snake_case_name", "__init__", "https://x.org/a_b_c", "2*3**4", "a * b * c"]) {
      const parts = parseInline(text);
      assert.equal(plainText([{ kind: "paragraph", inline: parts }]), text, text);
      assert.ok(!kinds(parts).includes("italic") && !kinds(parts).includes("bold"), text);
    }
  });

  test("fenced code blocks, with or without a closing fence, and quotes", () => {
    const blocks = parseMessage("> quoted **x**\n> more\nplain\n```js\nlet a = `x`;\n**no**\n```\nafter\n```\nopen");
    assert.deepEqual(
      blocks.map((b) => b.kind),
      ["quote", "paragraph", "code", "paragraph", "code"],
    );
    assert.equal(blocks[2].lang, "js");
    assert.equal(blocks[2].text, "let a = `x`;\n**no**");
    assert.equal(blocks[4].text, "open");
    assert.equal(plainText(blocks[0] ? [blocks[0]] : []), "quoted x\nmore");
  });

  test("hostile inputs stay text: markup, scripts, control characters, placeholders", () => {
    const hostile = [
      '<img src=x onerror="alert(1)">',
      "<script>alert(1)</script>",
      "[click](javascript:alert(1))",
      "javascript:alert(1) data:text/html,<b>x</b>",
      "\u0001\u0001 ``` \u0000 \u202e",
      "**".repeat(500),
      "_".repeat(999),
      "`".repeat(1000),
      "> ".repeat(600),
      "*_`".repeat(600),
      "https://" + "a".repeat(1900),
      "@" + "@bob".repeat(400),
    ];
    for (const text of hostile) {
      const started = performance.now();
      const blocks = parseMessage(text, ["bob"]);
      assert.ok(performance.now() - started < 500, "formatting is fast on any 2,000 characters");
      for (const block of blocks) {
        if (block.kind === "code") assert.equal(typeof block.text, "string");
        else assertPlainData(block.inline);
      }
      assert.ok(!plainText(blocks).includes("\u0001"), "the placeholder never leaks");
    }
    const [script] = parseMessage("<script>alert(1)</script>");
    assert.deepEqual(script.inline, [{ kind: "text", text: "<script>alert(1)</script>" }]);
    const [js] = parseMessage("javascript:alert(1)");
    assert.equal(kinds(js.inline), "text");
  });

  test("deep nesting stops at three levels and shows the rest as typed", () => {
    const parts = parseInline("**_**_**_x_**_**_**");
    assertPlainData(parts);
    const depth = (ps) => Math.max(0, ...ps.map((p) => (p.children ? 1 + depth(p.children) : 0)));
    assert.ok(depth(parts) <= 3);
  });

  test("text without marks comes back exactly", () => {
    const text = "Line one\n\n  indented <b>not bold</b> & 'quotes' \"too\"\ttab";
    assert.equal(plainText(parseMessage(text)), text);
  });
});

describe("names and mentions", () => {
  test("names compare after NFKC and case folding", () => {
    assert.equal(nameKey("Bob"), nameKey("BOB"));
    assert.equal(nameKey("Straße"), nameKey("STRASSE"));
    assert.equal(nameKey("ｂｏｂ"), nameKey("bob")); // full-width letters, NFKC
    assert.notEqual(nameKey("Аlice"), nameKey("Alice")); // Cyrillic А: the server's skeleton joins them
  });

  test("a mention names a member, longest name first, at a word boundary", () => {
    const names = ["Ann", "Ann Lee", "bob"];
    assert.deepEqual(
      findMentions("hi @ann lee and @BOB, not mail@bob.org or @Annabel", names).map((m) => m.name),
      ["Ann Lee", "bob"],
    );
    assert.equal(mentions("ping @Ｂob!", "bob"), true);
    assert.equal(mentions("no mention of bob", "bob"), false);
    assert.equal(mentions("@bob", ""), false);
  });

  test("completion offers members whose name starts with what follows @", () => {
    const names = ["ann", "Anna", "bob"];
    const query = mentionQuery("hello @an", 9, names);
    assert.deepEqual(query, { start: 6, end: 9, options: ["ann", "Anna"] });
    assert.deepEqual(completeMention("hello @an", query, "Anna"), { value: "hello @Anna ", caret: 12 });
    assert.equal(mentionQuery("mail@an", 7, names), null);
    assert.equal(mentionQuery("@zz", 3, names), null);
    assert.equal(mentionQuery("no at sign", 5, names), null);
  });

  test("avatars: initials, and a colour from the exact code points", () => {
    assert.equal(initials("ann lee"), "AL");
    assert.equal(initials("bob"), "B");
    assert.equal(initials("🙂 smile"), "🙂S");
    assert.equal(avatarHue("Alice"), avatarHue("Alice"));
    assert.notEqual(avatarHue("Alice"), avatarHue("Аlice")); // look alike, differ
    assert.ok(avatarHue("x") >= 0 && avatarHue("x") < 360);
  });
});
