// The small formatting subset of message text, parsed into plain data (never HTML):
// **bold**, _italic_, `code`, ``` fenced code blocks ```, "> " block quotes, http(s)
// links and @mentions. dom.js turns the result into elements with text nodes only, so
// no text can become markup, whatever it holds. Joining the text of every part gives
// back the message with the formatting marks (**, _, backticks, >) taken out.

import { findMentions } from "./names.js";
import { splitLinks } from "./text.js";

const ATOM = "\u0001"; // stands for a code span or a link while emphasis is parsed
const MAX_DEPTH = 3; // bold inside italic inside bold: more is shown as typed
const CODE_SPAN = /`([^`\n]+)`/gu;
const BOLD = /\*\*(?![\s*])([^]*?[^\s*])\*\*/u;
const ITALIC = /(?<![\p{L}\p{N}_])_(?![\s_])([^]*?[^\s_])_(?![\p{L}\p{N}_])/u;
const FENCE = /^\s{0,3}```/u;
const QUOTE = /^\s{0,3}> ?/u;

/**
 * Inline parts of one run of text: `{kind: "text"|"mention"|"code"|"link", text, href?}`
 * or `{kind: "bold"|"italic", children: [...]}`. `names` are the names a mention may name.
 */
export function parseInline(text, names = []) {
  // The placeholder cannot come from the server (texts refuse control characters), but
  // a page must not trust that: any in the input is shown as a replacement character.
  const source = String(text).replaceAll(ATOM, "\ufffd");
  const atoms = [];
  let masked = "";
  let done = 0;
  const addPlain = (plain) => {
    for (const part of splitLinks(plain)) {
      if (part.kind === "link") {
        atoms.push(part);
        masked += ATOM;
      } else {
        masked += part.text;
      }
    }
  };
  for (const match of source.matchAll(CODE_SPAN)) {
    addPlain(source.slice(done, match.index));
    atoms.push({ kind: "code", text: match[1] });
    masked += ATOM;
    done = match.index + match[0].length;
  }
  addPlain(source.slice(done));
  const state = { atoms, next: 0, names };
  return emphasis(masked, 0, state);
}

function emphasis(masked, depth, state) {
  const parts = [];
  let rest = masked;
  while (rest) {
    const bold = depth < MAX_DEPTH ? BOLD.exec(rest) : null;
    const italic = depth < MAX_DEPTH ? ITALIC.exec(rest) : null;
    const match = [bold, italic]
      .filter(Boolean)
      .sort((a, b) => a.index - b.index)[0];
    if (!match) break;
    leaves(rest.slice(0, match.index), state, parts);
    const kind = match === bold ? "bold" : "italic";
    parts.push({ kind, children: emphasis(match[1], depth + 1, state) });
    rest = rest.slice(match.index + match[0].length);
  }
  leaves(rest, state, parts);
  return parts;
}

function leaves(masked, state, parts) {
  const pieces = masked.split(ATOM);
  pieces.forEach((piece, i) => {
    if (i > 0) parts.push(state.atoms[state.next++]);
    if (piece) mentionParts(piece, state.names, parts);
  });
}

function mentionParts(text, names, parts) {
  let done = 0;
  for (const { start, end, name } of findMentions(text, names)) {
    if (start > done) parts.push({ kind: "text", text: text.slice(done, start) });
    parts.push({ kind: "mention", text: text.slice(start, end), name });
    done = end;
  }
  if (done < text.length) parts.push({ kind: "text", text: text.slice(done) });
}

/**
 * Blocks of a message: `{kind: "paragraph", inline}`, `{kind: "quote", inline}`,
 * `{kind: "code", lang, text}`. A fence left open runs to the end of the message.
 */
export function parseMessage(text, names = []) {
  const lines = String(text).split("\n");
  const blocks = [];
  let run = null; // {kind, lines} of the paragraph or quote being collected
  const flush = () => {
    if (run === null) return;
    blocks.push({ kind: run.kind, inline: parseInline(run.lines.join("\n"), names) });
    run = null;
  };
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    if (FENCE.test(line)) {
      flush();
      const lang = line.replace(FENCE, "").trim();
      const body = [];
      i += 1;
      while (i < lines.length && !FENCE.test(lines[i])) body.push(lines[i++]);
      blocks.push({ kind: "code", lang, text: body.join("\n") });
      continue;
    }
    const kind = QUOTE.test(line) ? "quote" : "paragraph";
    if (run !== null && run.kind !== kind) flush();
    run ??= { kind, lines: [] };
    run.lines.push(kind === "quote" ? line.replace(QUOTE, "") : line);
  }
  flush();
  return blocks;
}

/** The text a block list shows (what a reader could copy), for tests and previews. */
export function plainText(blocks) {
  const inline = (parts) =>
    parts.map((p) => (p.children ? inline(p.children) : p.text)).join("");
  return blocks.map((b) => (b.kind === "code" ? b.text : inline(b.inline))).join("\n");
}
