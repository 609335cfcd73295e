// Per-room client state with no DOM and no I/O, so `node --test` can drive it.
//
// A message is identified by (epoch, id), as the protocol says: when a room's history is
// reset (Redis lost it) its ids start again at 1 under a new epoch, and a new message 3
// must not be mistaken for the old 3. Messages are shown in arrival order (history of a
// join first, then live ones), never re-sorted; `lastId` and `epoch` are what a rejoin
// sends as `since` and `epoch`. Version 3: each message's latest version (highest `v`),
// the read positions of the user and the members, and how far back history is loaded.

import { sameName } from "./names.js";

export const GROUP_WINDOW_MS = 5 * 60 * 1000;
export const TYPING_SHOW_MS = 5000;

/** Room status: where the room stands between this page and the server. */
export const Status = Object.freeze({
  NEW: "new", // known locally, no join sent yet
  JOINING: "joining", // a join is in flight; live messages are held back
  JOINED: "joined",
  OFFLINE: "offline", // was joined, the connection dropped; rejoins on reconnect
  NEEDS_NAME: "needs-name", // the user must pick a (new) name first
  FAILED: "failed", // the last join failed; a retry is scheduled
  REMOVED: "removed", // kicked or banned: joined again only when the user asks
});

/** A message's version: 0 when sent, one more per change (version 2 servers send none). */
export function versionOf(message) {
  return Number.isInteger(message.v) ? message.v : 0;
}

export function messageKey(message) {
  return `${message.epoch ?? ""}:${message.id}`;
}

function isInteger(value) {
  return typeof value === "number" && Number.isInteger(value);
}

/** True for a well-formed protocol Message object. */
export function isMessage(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    isInteger(value.id) &&
    isInteger(value.ts) &&
    typeof value.room === "string" &&
    typeof value.name === "string" &&
    typeof value.text === "string" &&
    (value.epoch === undefined || typeof value.epoch === "string") &&
    (value.client_id === undefined || typeof value.client_id === "string")
  );
}

function sortedUnique(names) {
  return [...new Set(names.filter((n) => typeof n === "string"))].sort();
}

export class RoomState {
  constructor(room) {
    this.room = room;
    this.name = ""; // the name the server accepted for us in this room
    this.status = Status.NEW;
    this.everJoined = false;
    this.lastId = null;
    this.epoch = null; // the generation of the room's history that lastId belongs to
    this.seen = new Set();
    this.members = [];
    this.unread = 0;
    this.joinToken = 0;
    this.pending = []; // live messages that arrived while a join was in flight
    this.typers = new Map(); // name -> time (ms) the indicator expires
    this.previous = null; // {name, ts} of the last item shown if it was a message
    this.current = new Map(); // messageKey -> the copy with the highest `v` (version 3)
    this.oldestId = null; // the oldest message shown, for loading older history
    this.historyDone = false; // the server keeps nothing older than oldestId
    this.lastRead = 0; // the user's read position, as the server keeps it
    this.reads = new Map(); // name -> read position of the room's members
  }

  get joined() {
    return this.status === Status.JOINED;
  }

  /**
   * The `join` payload: the browser's key makes every tab and reconnect one user; a
   * rejoin asks for everything after the last message seen, in the epoch it was seen in.
   */
  joinPayload(name, key = null) {
    const payload = { room: this.room, name };
    if (key) payload.key = key;
    if (this.everJoined) {
      payload.since = this.lastId ?? 0;
      if (this.epoch !== null) payload.epoch = this.epoch;
    }
    return payload;
  }

  /** Marks a join as in flight; the token tells a stale reply from the current one. */
  startJoin() {
    this.status = Status.JOINING;
    this.pending = [];
    this.joinToken += 1;
    return this.joinToken;
  }

  /**
   * Records a message as shown unless its (id, ts) pair was seen already. Returns null
   * for a duplicate, else `{message, grouped}` where `grouped` says it continues a run
   * of messages by the same sender.
   */
  accept(message) {
    const key = messageKey(message);
    if (this.seen.has(key)) return null;
    this.seen.add(key);
    this.current.set(key, message);
    if (this.oldestId === null || message.id < this.oldestId) this.oldestId = message.id;
    this.lastId = message.id;
    if (typeof message.epoch === "string") this.epoch = message.epoch;
    this.typers.delete(message.name);
    const prev = this.previous;
    const grouped =
      prev !== null &&
      prev.name === message.name &&
      message.ts >= prev.ts &&
      message.ts - prev.ts < GROUP_WINDOW_MS;
    this.previous = { name: message.name, ts: message.ts };
    return { message, grouped };
  }

  /** A notice (join, leave, gap) in the stream ends a run of grouped messages. */
  breakGroup() {
    this.previous = null;
  }

  /**
   * A live `message` event. While a join is in flight it is held back so that the
   * join's history is shown first. Returns "held", "duplicate" or the accepted entry.
   */
  receive(message) {
    if (this.status === Status.JOINING) {
      this.pending.push(message);
      return "held";
    }
    return this.accept(message) ?? "duplicate";
  }

  /**
   * A `message_updated` event, or a copy from `history`/`updated`: the message's new
   * state when it is newer (higher `v`) than the one shown, else null. Updates that
   * come while a join is in flight wait for its reply, as messages do ("held").
   */
  update(message) {
    if (this.status === Status.JOINING) {
      this.pending.push({ update: message });
      return "held";
    }
    const key = messageKey(message);
    const shown = this.current.get(key);
    if (!shown || versionOf(message) <= versionOf(shown)) return null;
    this.current.set(key, message);
    return message;
  }

  /** The current state of a shown message, or null. */
  message(id, epoch = this.epoch) {
    return this.current.get(`${epoch ?? ""}:${id}`) ?? null;
  }

  /**
   * A page of older history (the `history` reply to `before`): the messages not shown
   * yet, oldest first, as `{message, grouped}`; `done` once the server has no older one.
   */
  prepend(messages, limit) {
    const older = messages.filter(isMessage).filter((m) => !this.seen.has(messageKey(m)));
    const entries = [];
    let prev = null;
    for (const message of older) {
      this.seen.add(messageKey(message));
      this.current.set(messageKey(message), message);
      if (this.oldestId === null || message.id < this.oldestId) this.oldestId = message.id;
      const grouped =
        prev !== null && prev.name === message.name && message.ts - prev.ts < GROUP_WINDOW_MS;
      entries.push({ message, grouped });
      prev = message;
    }
    if (messages.length < limit || this.oldestId === 1 || older.length === 0) this.historyDone = true;
    return entries;
  }

  /** The payload asking for the page of history before the oldest message shown. */
  olderPayload(limit) {
    return { room: this.room, before: this.oldestId ?? 1, limit };
  }

  /** A `read` event, or the join's `reads`: positions only move forward. */
  setRead(name, lastRead, ownName) {
    if (!Number.isInteger(lastRead)) return false;
    if (ownName && sameName(name, ownName)) {
      if (lastRead <= this.lastRead) return false;
      this.lastRead = lastRead;
      return true;
    }
    if (lastRead <= (this.reads.get(name) ?? 0)) return false;
    this.reads.set(name, lastRead);
    return true;
  }

  /** Messages from others after the user's read position (the server's unread count). */
  unreadCount(ownName) {
    let count = 0;
    for (const message of this.current.values()) {
      if (message.id <= this.lastRead || message.deleted || message.epoch !== (this.epoch ?? message.epoch)) continue;
      if (!ownName || !sameName(message.name, ownName)) count += 1;
    }
    return count;
  }

  /** Names that sent the shown messages (mentions may name people who left). */
  senders() {
    const names = new Set();
    for (const message of this.current.values()) if (!message.system) names.add(message.name);
    return [...names];
  }

  /** The id of the user's own newest shown message, or null. */
  ownLatestId(ownName) {
    let latest = null;
    for (const message of this.current.values()) {
      if (message.deleted || !ownName || !sameName(message.name, ownName)) continue;
      if (message.epoch !== (this.epoch ?? message.epoch)) continue;
      if (latest === null || message.id > latest) latest = message.id;
    }
    return latest;
  }

  /** Names of members (not the user) whose read position reaches message `id`. */
  seenBy(id, ownName) {
    const names = [];
    for (const [name, position] of this.reads) {
      if (position >= id && !(ownName && sameName(name, ownName))) names.push(name);
    }
    return names.sort();
  }

  /**
   * Applies a successful join reply: history, then the live messages held back.
   * Returns `{shown, missed, rejoin, reset}`: `missed` counts messages that fell out of
   * the server's kept window while this page was away (0 when nothing was lost); `reset`
   * says the room's history started again, so what was shown must be replaced.
   */
  completeJoin(reply) {
    const rejoin = this.everJoined;
    const replyEpoch = typeof reply.epoch === "string" ? reply.epoch : null;
    const reset =
      rejoin &&
      (reply.reset === true || (replyEpoch !== null && this.epoch !== null && replyEpoch !== this.epoch));
    if (reset) this.#forgetHistory();
    if (replyEpoch !== null) this.epoch = replyEpoch;
    const before = this.lastId;
    const history = Array.isArray(reply.history) ? reply.history.filter(isMessage) : [];
    let missed = 0;
    if (rejoin && !reset && history.length > 0 && before !== null && history[0].id > before + 1) {
      missed = history[0].id - before - 1;
    }
    this.name = typeof reply.name === "string" ? reply.name : this.name;
    if (Number.isInteger(reply.last_read) && (reset || reply.last_read > this.lastRead)) {
      this.lastRead = reply.last_read;
    } else if (reset) {
      this.lastRead = 0;
    }
    if (reset) this.reads.clear();
    if (reply.reads && typeof reply.reads === "object") {
      for (const [name, position] of Object.entries(reply.reads)) this.setRead(name, position, this.name);
    }
    this.members = sortedUnique(Array.isArray(reply.members) ? reply.members : []);
    this.status = Status.JOINED;
    this.everJoined = true;
    const shown = [];
    const updates = [];
    const changed = (message) => {
      const newer = this.update(message);
      if (newer) updates.push(newer);
    };
    const recovered = Array.isArray(reply.updated) ? reply.updated.filter(isMessage) : [];
    const held = this.pending;
    this.pending = [];
    for (const message of history) {
      const entry = this.accept(message);
      if (entry) shown.push(entry);
      else changed(message); // shown before: the history has its current state
    }
    for (const message of recovered) changed(message);
    for (const item of held) {
      if (item.update) {
        if (isMessage(item.update)) changed(item.update);
        continue;
      }
      const entry = this.accept(item);
      if (entry) shown.push(entry);
    }
    if (!rejoin && history.length === 0) this.historyDone = true;
    if (history.length > 0 && history[0].id === 1) this.historyDone = true;
    return { shown, missed, rejoin, reset, updates };
  }

  #forgetHistory() {
    this.seen.clear();
    this.current.clear();
    this.oldestId = null;
    this.historyDone = false;
    this.lastId = null;
    this.epoch = null;
    this.previous = null;
  }

  /** The connection dropped: membership is gone until the rejoin. */
  goOffline() {
    if (this.status === Status.JOINED || this.status === Status.JOINING) {
      this.status = Status.OFFLINE;
    }
    this.pending = [];
    this.typers.clear();
  }

  addMember(name) {
    if (this.members.includes(name)) return false;
    this.members = sortedUnique([...this.members, name]);
    return true;
  }

  removeMember(name) {
    this.typers.delete(name);
    if (!this.members.includes(name)) return false;
    this.members = this.members.filter((n) => n !== name);
    return true;
  }

  setTyping(name, typing, now) {
    if (typing) this.typers.set(name, now + TYPING_SHOW_MS);
    else this.typers.delete(name);
  }

  /** Names shown as typing at `now`, sorted; expired ones are dropped. */
  typingNames(now) {
    for (const [name, until] of this.typers) {
      if (until <= now) this.typers.delete(name);
    }
    return [...this.typers.keys()].sort();
  }
}
