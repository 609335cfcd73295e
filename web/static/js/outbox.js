// Messages typed but not yet accepted by the server, kept in localStorage so that no
// disconnect, stall or reload loses them. Each has a `client_id` chosen when it is typed;
// the server answers a repeat of that id with the first message ("duplicate": true), so
// re-sending after any doubt is safe and the message is shown once. Pure apart from the
// injected storage, so `node --test` drives it.

export const OUTBOX_KEY = "chat.outbox";

/** Where an entry stands; only QUEUED entries are (re)sent. */
export const Delivery = Object.freeze({
  QUEUED: "queued", // waiting for its turn, a connection or the service
  SENDING: "sending", // on the wire, no answer yet
  FAILED: "failed", // refused for good; the user retries or deletes it
});

// Refusals that a later attempt with the same text may get past on its own.
const TRANSIENT = new Set(["unavailable", "rate_limited", "not_in_room"]);

/** True when a failed reply means "try again later" rather than "this will never go". */
export function isTransient(error) {
  return Boolean(error.lost || error.offline || TRANSIENT.has(error.code));
}

/** Why a transient failure happened, as kept on a queued entry. */
export function waitReason(error) {
  if (error.offline) return "offline";
  if (error.lost) return "lost";
  return error.code;
}

const WAITING_TEXT = {
  offline: "Waiting for the connection…",
  lost: "No answer yet; sending again…",
  unavailable: "Waiting for the service…",
  rate_limited: "Sending too fast; waiting a moment…",
  not_in_room: "Rejoining the room…",
};

/** The status line of a pending entry that is not refused for good. */
export function pendingText(entry) {
  if (entry.state === Delivery.SENDING) return "Sending…";
  return WAITING_TEXT[entry.error] ?? "Waiting to send…";
}

function isEntry(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof value.clientId === "string" &&
    typeof value.room === "string" &&
    typeof value.text === "string" &&
    Number.isInteger(value.createdAt)
  );
}

function readStored(storage, key) {
  try {
    const parsed = JSON.parse(storage?.getItem(key) ?? "[]");
    return Array.isArray(parsed) ? parsed.filter(isEntry) : [];
  } catch {
    return [];
  }
}

export class Outbox {
  /**
   * `storage` is localStorage or anything with getItem/setItem (null: memory only);
   * `key` names the entry, one per signed-in user when identity is on, so that a person
   * who signs in as someone else on this browser never sends the other's messages.
   */
  constructor(storage = null, key = OUTBOX_KEY) {
    this.storage = storage;
    this.key = key;
    this.entries = new Map(); // clientId -> entry, in the order typed
    for (const stored of readStored(storage, key)) {
      // A reload cannot know what happened to an attempt in flight: send it again.
      const failed = stored.state === Delivery.FAILED;
      const state = failed ? Delivery.FAILED : Delivery.QUEUED;
      this.entries.set(stored.clientId, { ...stored, state, error: failed ? stored.error : null });
    }
  }

  /** A message just typed (`replyTo`: the id it answers); saved before anything is sent. */
  add(room, text, clientId, now, replyTo = null) {
    const entry = { clientId, room, text, createdAt: now, state: Delivery.QUEUED, error: null };
    if (Number.isInteger(replyTo)) entry.replyTo = replyTo;
    this.entries.set(clientId, entry);
    this.#save({ put: entry });
    return entry;
  }

  get(clientId) {
    return this.entries.get(clientId) ?? null;
  }

  /** A room's entries in the order they were typed. */
  forRoom(room) {
    return [...this.entries.values()].filter((e) => e.room === room);
  }

  /** The next entry of `room` to put on the wire, or null. */
  next(room) {
    return this.forRoom(room).find((e) => e.state === Delivery.QUEUED) ?? null;
  }

  get size() {
    return this.entries.size;
  }

  markSending(clientId) {
    return this.#update(clientId, { state: Delivery.SENDING, error: null });
  }

  /**
   * No answer, or a passing refusal: the entry waits for the next attempt. `reason`
   * ("lost", "offline" or a protocol code) tells the reader what it waits for.
   */
  requeue(clientId, reason = null) {
    return this.#update(clientId, { state: Delivery.QUEUED, error: reason });
  }

  /** A refusal that no retry fixes by itself; `code` is the protocol error code. */
  fail(clientId, code) {
    return this.#update(clientId, { state: Delivery.FAILED, error: code });
  }

  /** The user asked to try a failed entry again. */
  retry(clientId) {
    return this.#update(clientId, { state: Delivery.QUEUED, error: null });
  }

  /** The server accepted it (or the user deleted it): it leaves the outbox. */
  remove(clientId) {
    const entry = this.entries.get(clientId) ?? null;
    if (entry === null) return null;
    this.entries.delete(clientId);
    this.#save({ remove: clientId });
    return entry;
  }

  /**
   * The connection is gone: entries in flight go back to the queue, and every waiting
   * entry now waits for the connection. Returns the entries changed.
   */
  requeueAll(reason) {
    const moved = [];
    for (const entry of this.entries.values()) {
      if (entry.state !== Delivery.FAILED) {
        entry.state = Delivery.QUEUED;
        entry.error = reason;
        moved.push(entry);
      }
    }
    if (moved.length > 0) this.#save({ puts: moved });
    return moved;
  }

  #update(clientId, changes) {
    const entry = this.entries.get(clientId);
    if (!entry) return null;
    Object.assign(entry, changes);
    this.#save({ put: entry });
    return entry;
  }

  // Read-modify-write of one change, so that tabs of one browser, which share the
  // stored outbox, do not overwrite each other's entries.
  #save({ put = null, puts = [], remove = null }) {
    if (!this.storage) return;
    try {
      const stored = new Map(readStored(this.storage, this.key).map((e) => [e.clientId, e]));
      for (const entry of put ? [put, ...puts] : puts) stored.set(entry.clientId, { ...entry });
      if (remove !== null) stored.delete(remove);
      this.storage.setItem(this.key, JSON.stringify([...stored.values()]));
    } catch {
      // A full or refused storage only loses the reload guarantee; sending goes on.
    }
  }
}
