// Sending: every typed message goes through the outbox (outbox.js). Each room's queue
// is sent one message at a time, in the order typed, whenever the room is joined; an
// answer that leaves the outcome open (no answer, offline, `unavailable`) keeps the
// message pending for the next attempt with the same client_id, and a final refusal
// offers retry and delete. A message leaves the outbox when its ack or its `message`
// event arrives, whichever comes first, so it is shown exactly once.

import { isTransient, waitReason } from "./outbox.js";
import { request } from "./rpc.js";

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 10000;
const RATE_LIMITED_MS = 3000;

export class Sender {
  /**
   * `deliver(message)` shows an accepted message the way a `message` event would;
   * `rejoin(state)` asks the room controller to join a room again.
   */
  constructor({ store, view, outbox, newId, deliver, rejoin }) {
    this.store = store;
    this.view = view;
    this.outbox = outbox;
    this.newId = newId;
    this.deliver = deliver;
    this.rejoin = rejoin;
    this.socket = null;
    this.busy = new Set(); // rooms whose queue is being sent
    this.timers = new Map(); // room -> {timer, delay}
  }

  nameFor(state) {
    return state?.name || this.store.defaultName;
  }

  /** Queues a typed message, shows it at once, and sends it if the room can take it. */
  submit(state, text, replyTo = null) {
    const entry = this.outbox.add(state.room, text, this.newId(), Date.now(), replyTo);
    this.view.showPending(state.room, entry, this.nameFor(state));
    this.pump(state.room);
    return entry;
  }

  /** Shows a room's outbox (after a reload, or when a room is added). */
  showRoom(state) {
    for (const entry of this.outbox.forRoom(state.room)) {
      this.view.showPending(state.room, entry, this.nameFor(state));
    }
  }

  /**
   * A delivered message that is ours ends its outbox entry. Returns true when it did.
   * The name check keeps another user who copies a client_id from touching our queue.
   */
  settle(state, message) {
    const clientId = message.client_id;
    if (typeof clientId !== "string") return false;
    const entry = this.outbox.get(clientId);
    if (!entry || entry.room !== state.room) return false;
    if (message.name.toLowerCase() !== this.nameFor(state).toLowerCase()) return false;
    this.#drop(entry);
    return true;
  }

  retry(clientId) {
    const entry = this.outbox.retry(clientId);
    if (!entry) return;
    this.#show(entry);
    this.pump(entry.room);
  }

  discard(clientId) {
    const entry = this.outbox.get(clientId);
    if (entry) this.#drop(entry);
  }

  /**
   * The user left the room (or it cannot be joined): its unsent messages go with it,
   * or the next page load would join the room again just to send them.
   */
  forgetRoom(room) {
    for (const entry of this.outbox.forRoom(room)) this.#drop(entry);
    const backoff = this.timers.get(room);
    if (backoff) clearTimeout(backoff.timer);
    this.timers.delete(room);
  }

  /** The connection is gone: whatever was on the wire waits for the next one. */
  connectionLost() {
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const entry of this.outbox.requeueAll("offline")) this.#show(entry);
  }

  pumpAll() {
    for (const room of this.store.rooms.keys()) this.pump(room);
  }

  /** Sends a room's queue, one message at a time, while the room can take them. */
  async pump(room) {
    if (this.busy.has(room)) return;
    this.busy.add(room);
    try {
      for (;;) {
        const state = this.store.get(room);
        const { socket } = this;
        if (!state?.joined || !socket?.connected) return;
        const entry = this.outbox.next(room);
        if (!entry) return;
        this.outbox.markSending(entry.clientId);
        this.#show(entry);
        const payload = { room, text: entry.text, client_id: entry.clientId };
        if (Number.isInteger(entry.replyTo)) payload.reply_to = entry.replyTo;
        const reply = await request(socket, "send_message", payload);
        if (this.outbox.get(entry.clientId) === null) {
          // Its `message` event came first (or it was deleted); this reply adds nothing.
          if (reply.ok) this.#clearBackoff(room);
          continue;
        }
        if (reply.ok) {
          this.#clearBackoff(room);
          this.#drop(entry);
          // The ack answers this client_id, whether or not the message repeats it.
          this.deliver({ client_id: entry.clientId, ...reply.message });
          continue;
        }
        if (!isTransient(reply.error)) {
          this.outbox.fail(entry.clientId, reply.error.code);
          this.#show(entry);
          continue;
        }
        // An answer lost to a disconnect waits for the connection, like the rest.
        const offline = Boolean(reply.error.offline) || !socket.connected;
        this.outbox.requeue(entry.clientId, offline ? "offline" : waitReason(reply.error));
        this.#show(entry);
        if (!offline) this.#later(state, reply.error);
        return;
      }
    } finally {
      this.busy.delete(room);
    }
  }

  /** A passing failure on a live socket: try again after a while (or rejoin). */
  #later(state, error) {
    if (error.code === "not_in_room" && !error.lost) {
      this.rejoin(state);
      return;
    }
    const { room } = state;
    const backoff = this.timers.get(room) ?? { timer: null, delay: RETRY_FIRST_MS / 2 };
    clearTimeout(backoff.timer);
    backoff.delay =
      error.code === "rate_limited" && !error.lost
        ? RATE_LIMITED_MS
        : Math.min(backoff.delay * 2, RETRY_MAX_MS);
    backoff.timer = setTimeout(() => {
      backoff.timer = null;
      this.pump(room);
    }, backoff.delay * (0.8 + Math.random() * 0.4));
    this.timers.set(room, backoff);
  }

  #clearBackoff(room) {
    const backoff = this.timers.get(room);
    if (!backoff) return;
    clearTimeout(backoff.timer);
    this.timers.delete(room);
  }

  #show(entry) {
    const state = this.store.get(entry.room);
    if (state) this.view.showPending(entry.room, entry, this.nameFor(state));
  }

  #drop(entry) {
    this.outbox.remove(entry.clientId);
    this.view.removePending(entry.room, entry.clientId);
  }
}
