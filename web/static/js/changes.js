// Pure helpers of what version 3 shows around a message: reactions, "Seen by", reply
// quotes, long messages, the message Up arrow edits, moderation texts. No DOM, no I/O.

import { parseMessage, plainText } from "./format.js";
import { sameName } from "./names.js";
import { codePointLength } from "./text.js";

/** The emoji the picker offers. */
export const COMMON_EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

const COLLAPSE_CHARS = 600;
const COLLAPSE_LINES = 8;
const SNIPPET_CHARS = 80;
const SEEN_NAMES = 3;

/**
 * A message's reactions as shown: `[{emoji, count, names, mine}]` in the order the
 * message holds them; `mine` when the reader is among the names.
 */
export function reactionSummary(message, ownName) {
  const reactions = message?.reactions;
  if (!reactions || typeof reactions !== "object" || message.deleted) return [];
  const out = [];
  for (const [emoji, value] of Object.entries(reactions)) {
    const count = Number.isInteger(value?.count) ? value.count : 0;
    if (count <= 0) continue;
    const names = Array.isArray(value.names) ? value.names.filter((n) => typeof n === "string") : [];
    const mine = Boolean(ownName) && names.some((n) => sameName(n, ownName));
    out.push({ emoji, count, names, mine });
  }
  return out;
}

/** "ann, bob" or "ann, bob, cleo and 2 others" for a reaction's tooltip. */
export function whoReacted({ names, count }) {
  if (names.length === 0) return `${count}`;
  const rest = count - names.length;
  return rest > 0 ? `${names.join(", ")} and ${rest} other${rest === 1 ? "" : "s"}` : names.join(", ");
}

/** "Seen by bob", "Seen by ann, bob, cleo and 2 others", or "" for nobody. */
export function seenByLabel(names) {
  if (names.length === 0) return "";
  if (names.length <= SEEN_NAMES) return `Seen by ${names.join(", ")}`;
  const rest = names.length - SEEN_NAMES;
  return `Seen by ${names.slice(0, SEEN_NAMES).join(", ")} and ${rest} other${rest === 1 ? "" : "s"}`;
}

/** The first line of a message as it reads (no formatting marks), shortened. */
export function snippet(message) {
  if (!message) return "an earlier message";
  if (message.deleted) return "message deleted";
  const shown = plainText(parseMessage(message.text));
  const line = shown.split("\n").find((l) => l.trim()) ?? "";
  const chars = Array.from(line.trim());
  return chars.length > SNIPPET_CHARS ? `${chars.slice(0, SNIPPET_CHARS).join("")}…` : chars.join("");
}

/** True when a text is long enough to collapse behind "Show more". */
export function isLong(text) {
  return codePointLength(text) > COLLAPSE_CHARS || text.split("\n").length > COLLAPSE_LINES;
}

/**
 * What a member may do with a message: `{reply, react, edit, delete}`. Nobody acts on
 * a tombstone; only the sender edits (by name in the room: the page knows no other
 * user id); the sender or a moderator deletes.
 */
export function allowedActions(message, ownName, moderator = false) {
  if (message.deleted) return { reply: false, react: false, edit: false, delete: false };
  const own = Boolean(ownName) && sameName(message.name, ownName) && !message.system;
  return { reply: true, react: true, edit: own, delete: own || moderator };
}

/** The user's newest live message in `messages` (shown order), which Up arrow edits. */
export function lastOwnMessage(messages, ownName) {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const m = messages[i];
    if (!m.deleted && !m.system && ownName && sameName(m.name, ownName)) return m;
  }
  return null;
}

/** Ban durations offered to moderators: label and seconds (null: until lifted). */
export const BAN_DURATIONS = [
  { label: "1 hour", seconds: 3600 },
  { label: "1 day", seconds: 86_400 },
  { label: "1 week", seconds: 604_800 },
  { label: "Until lifted", seconds: null },
];

/** What a removed person reads, from the `kicked` event (or a `banned` join error). */
export function removalText({ room, by, reason, banned, until }, formatDate) {
  const who = typeof by === "string" && by ? (by === "api" ? "the application" : by) : "a moderator";
  const why = typeof reason === "string" && reason ? ` Reason: ${reason}` : "";
  if (!banned) return `You were removed from #${room} by ${who}.${why} You may join it again.`;
  const end = Number.isInteger(until) ? `until ${formatDate(until)}` : "until a moderator lifts the ban";
  return `You are banned from #${room} ${end} (by ${who}).${why}`;
}
