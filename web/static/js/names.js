// Names as the service compares them, for the page's own matching: @mentions,
// completion, "is this message mine". The service also compares a confusable skeleton
// (Unicode TR39); the page does not carry those tables, so it matches on NFKC and case
// folding only. A name the skeleton would join is still told apart by its avatar colour.

/** The comparison key of a display name: NFKC, then case folded (ß and SS agree). */
export function nameKey(name) {
  // toUpperCase().toLowerCase() folds what toLowerCase alone leaves apart (ß/ss, ς/σ).
  return String(name).normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC");
}

export function sameName(a, b) {
  return nameKey(a) === nameKey(b);
}

const WORD = /[\p{L}\p{N}_]/u;

function isWordChar(ch) {
  return ch !== undefined && WORD.test(ch);
}

/**
 * Every `@name` in `text` naming one of `names`, as `{start, end, name}` (UTF-16
 * offsets, the `@` included), left to right. The longest name wins ("@Ann Lee" over
 * "@Ann"); an `@` inside a word (mail addresses) is not a mention, and neither is a name
 * followed by more letters ("@Annabel" does not mention Ann).
 */
export function findMentions(text, names) {
  const candidates = [...new Set(names.filter((n) => typeof n === "string" && n.trim()))]
    .map((name) => ({ name, key: nameKey(name) }))
    .sort((a, b) => b.name.length - a.name.length);
  const found = [];
  if (candidates.length === 0) return found;
  let from = 0;
  for (;;) {
    const at = text.indexOf("@", from);
    if (at < 0) return found;
    from = at + 1;
    if (at > 0 && isWordChar(text[at - 1])) continue;
    for (const { name, key } of candidates) {
      const end = at + 1 + name.length;
      if (end > text.length) continue;
      if (nameKey(text.slice(at + 1, end)) !== key) continue;
      if (isWordChar(name.at(-1)) && isWordChar(text[end])) continue;
      found.push({ start: at, end, name });
      from = end;
      break;
    }
  }
}

/** True when `text` mentions `ownName` (matched as names are). */
export function mentions(text, ownName) {
  return Boolean(ownName) && findMentions(text, [ownName]).length > 0;
}

const MAX_PREFIX = 32;

/**
 * The `@prefix` being typed just before `caret`, and the names it may complete to:
 * `{start, end, options}` or null. Options keep the members' order (by code point).
 */
export function mentionQuery(value, caret, names) {
  const before = value.slice(0, caret);
  const at = before.lastIndexOf("@");
  if (at < 0) return null;
  if (at > 0 && isWordChar(before[at - 1])) return null;
  const prefix = before.slice(at + 1);
  if (prefix.length > MAX_PREFIX || /[\n\r\t]/u.test(prefix) || /^\s/u.test(prefix)) return null;
  const key = nameKey(prefix);
  const options = names.filter((name) => nameKey(name).startsWith(key));
  if (options.length === 0) return null;
  if (options.length === 1 && options[0] === prefix) return null; // already complete
  return { start: at, end: caret, options };
}

/** The box's value and caret after choosing `name` for the query. */
export function completeMention(value, query, name) {
  const inserted = `@${name} `;
  const next = value.slice(0, query.start) + inserted + value.slice(query.end);
  return { value: next, caret: query.start + inserted.length };
}

// ---- avatars ----------------------------------------------------------------------------

/** One or two letters for an avatar: the first of the first two words. */
export function initials(name) {
  const words = String(name).trim().split(/\s+/u).filter(Boolean);
  const first = (word) => (Array.from(word)[0] ?? "").toUpperCase();
  if (words.length === 0) return "?";
  if (words.length === 1) return first(words[0]);
  return first(words[0]) + first(words[1]);
}

/**
 * A hue (0-359) from the name's exact code points (FNV-1a), so two names that only look
 * alike ("Alice" and "Аlice" with a Cyrillic А) still get different colours.
 */
export function avatarHue(name) {
  let hash = 0x811c9dc5;
  for (const ch of String(name)) {
    hash ^= ch.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % 360;
}
