// Pure text rules shared by both pages: validation mirrors the server's rules so the
// user hears about a mistake before a round trip, but the server stays the judge.

export const ROOM_RE = /^[A-Za-z0-9_-]{1,32}$/;
export const DEFAULT_MAX_NAME = 32;
export const DEFAULT_MAX_TEXT = 2000;

// Unicode category Cc, which the server refuses in names (and, but for \n and \t, in text).
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/u;
const TEXT_CONTROL_RE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/u;

/** Length in code points, as the server (Python `len`) counts it. */
export function codePointLength(value) {
  let count = 0;
  for (const _ of value) count += 1;
  return count;
}

/** Room rule; on success `room` is the lower-cased name the server will use. */
export function checkRoom(value) {
  const raw = String(value ?? "").trim();
  if (!raw) return { ok: false, error: "Enter a room name." };
  if (!ROOM_RE.test(raw)) {
    return {
      ok: false,
      error: "Room names are 1-32 letters, digits, '_' or '-' (no spaces).",
    };
  }
  return { ok: true, room: raw.toLowerCase() };
}

/** Name rule: 1-maxName characters after trimming, no control characters. */
export function checkName(value, maxName = DEFAULT_MAX_NAME) {
  const name = String(value ?? "").trim();
  if (!name) return { ok: false, error: "Enter a display name." };
  if (codePointLength(name) > maxName) {
    return { ok: false, error: `Names are at most ${maxName} characters.` };
  }
  if (CONTROL_RE.test(name)) {
    return { ok: false, error: "Names cannot contain control characters." };
  }
  return { ok: true, name };
}

/**
 * Text rule before sending. `empty` means there is nothing to send (no error to show);
 * otherwise a failure carries the protocol code the server would have answered.
 */
export function checkText(value, maxText = DEFAULT_MAX_TEXT) {
  const text = String(value ?? "").trim();
  if (!text) return { ok: false, empty: true };
  if (TEXT_CONTROL_RE.test(text)) return { ok: false, code: "invalid_text" };
  if (codePointLength(text) > maxText) return { ok: false, code: "message_too_long" };
  return { ok: true, text };
}

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/giu;
const TRAILING_PUNCTUATION = ".,;:!?*";
const CLOSERS = { ")": "(", "]": "[", "}": "{" };

function count(text, ch) {
  return text.split(ch).length - 1;
}

// "see https://x.org/a)." links https://x.org/a, but "https://x.org/wiki/A_(b)" keeps its ")".
function trimUrl(raw) {
  let url = raw;
  for (;;) {
    const last = url.at(-1);
    if (last && TRAILING_PUNCTUATION.includes(last)) {
      url = url.slice(0, -1);
    } else if (last in CLOSERS && count(url, last) > count(url, CLOSERS[last])) {
      url = url.slice(0, -1);
    } else {
      return url;
    }
  }
}

/** The URL to put in an href, or null unless it is a well-formed http(s) URL. */
export function safeHref(candidate) {
  let url;
  try {
    url = new URL(candidate);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (!url.hostname) return null;
  return url.href;
}

/**
 * Splits text into plain runs and http(s) links, in order. Joining every part's `text`
 * gives back the input exactly, so nothing the sender wrote is lost or added.
 */
export function splitLinks(text) {
  const parts = [];
  let done = 0;
  for (const match of text.matchAll(URL_RE)) {
    const raw = trimUrl(match[0]);
    const href = raw ? safeHref(raw) : null;
    if (!href) continue;
    if (match.index > done) parts.push({ kind: "text", text: text.slice(done, match.index) });
    parts.push({ kind: "link", text: raw, href });
    done = match.index + raw.length;
  }
  if (done < text.length) parts.push({ kind: "text", text: text.slice(done) });
  return parts;
}

/** "a is typing…", "a and b are typing…", "a, b and 2 others are typing…". */
export function typingLabel(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others are typing…`;
}

/**
 * The character counter of the message box: hidden until the text nears the limit,
 * then "N characters left", then "N characters over the limit". Counts as the server
 * does: code points after trimming.
 */
export function textCounter(value, maxText = DEFAULT_MAX_TEXT) {
  const count = codePointLength(String(value ?? "").trim());
  const remaining = maxText - count;
  const threshold = Math.max(20, Math.floor(maxText / 10));
  if (remaining > threshold) return { count, remaining, show: false, over: false, label: "" };
  if (remaining < 0) {
    const over = -remaining;
    const label = `${over} character${over === 1 ? "" : "s"} over the limit`;
    return { count, remaining, show: true, over: true, label };
  }
  const label = `${remaining} character${remaining === 1 ? "" : "s"} left`;
  return { count, remaining, show: true, over: false, label };
}
