// Unit tests of the outbox (outbox.js), the identifiers (identity.js) and the sender's
// queue discipline (sender.js) with a fake socket, view and store.
// Run with `cd web && npm test` (node --test).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CLIENT_ID_RE, KEY_RE, KEY_STORAGE, loadKey, newClientId, randomToken } from "../static/js/identity.js";
import { Delivery, OUTBOX_KEY, Outbox, isTransient, pendingText, waitReason } from "../static/js/outbox.js";
import { Sender } from "../static/js/sender.js";
import { ChatStore } from "../static/js/chatstore.js";

const T0 = 1_700_000_000_000;

/** localStorage's interface over a Map; `refuse` makes every write throw. */
class MemoryStorage {
  constructor(refuse = false) {
    this.map = new Map();
    this.refuse = refuse;
  }

  getItem(key) {
    return this.map.has(key) ? this.map.get(key) : null;
  }

  setItem(key, value) {
    if (this.refuse) throw new Error("QuotaExceededError");
    this.map.set(key, String(value));
  }
}

function stored(storage) {
  return JSON.parse(storage.getItem(OUTBOX_KEY));
}

describe("Outbox", () => {
  test("a typed message is queued and saved before anything is sent", () => {
    const storage = new MemoryStorage();
    const box = new Outbox(storage);
    const entry = box.add("lobby", "hello", "c1", T0);
    assert.equal(entry.state, Delivery.QUEUED);
    assert.deepEqual(stored(storage).map((e) => [e.clientId, e.text]), [["c1", "hello"]]);
    assert.equal(box.next("lobby").clientId, "c1");
    assert.equal(box.next("other"), null);
  });

  test("entries are sent in the order typed; one in flight is not next", () => {
    const box = new Outbox();
    box.add("lobby", "one", "c1", T0);
    box.add("lobby", "two", "c2", T0 + 1);
    box.markSending("c1");
    assert.equal(box.next("lobby").clientId, "c2");
    box.requeue("c1", "lost");
    assert.equal(box.next("lobby").clientId, "c1");
  });

  test("a reload finds its entries; what was in flight is queued again", () => {
    const storage = new MemoryStorage();
    const first = new Outbox(storage);
    first.add("lobby", "one", "c1", T0);
    first.add("lobby", "two", "c2", T0 + 1);
    first.add("lobby", "three", "c3", T0 + 2);
    first.markSending("c1");
    first.fail("c2", "message_too_long");
    const reloaded = new Outbox(storage);
    assert.deepEqual(
      [...reloaded.entries.values()].map((e) => [e.clientId, e.state, e.error]),
      [
        ["c1", Delivery.QUEUED, null],
        ["c2", Delivery.FAILED, "message_too_long"],
        ["c3", Delivery.QUEUED, null],
      ],
    );
  });

  test("removing an entry leaves no trace in storage", () => {
    const storage = new MemoryStorage();
    const box = new Outbox(storage);
    box.add("lobby", "one", "c1", T0);
    assert.equal(box.remove("c1").text, "one");
    assert.equal(box.remove("c1"), null);
    assert.deepEqual(stored(storage), []);
    assert.equal(box.size, 0);
  });

  test("two tabs sharing storage keep each other's entries", () => {
    const storage = new MemoryStorage();
    const tabA = new Outbox(storage);
    const tabB = new Outbox(storage);
    tabA.add("lobby", "from a", "a1", T0);
    tabB.add("lobby", "from b", "b1", T0 + 1);
    tabA.remove("a1");
    assert.deepEqual(stored(storage).map((e) => e.clientId), ["b1"]);
  });

  test("outboxes under different keys (signed-in users) never see each other's entries", () => {
    const storage = new MemoryStorage();
    const alice = new Outbox(storage, `${OUTBOX_KEY}.alice`);
    alice.add("lobby", "from alice", "a1", T0);
    assert.equal(new Outbox(storage, `${OUTBOX_KEY}.bob`).size, 0);
    assert.equal(new Outbox(storage).size, 0);
    assert.equal(new Outbox(storage, `${OUTBOX_KEY}.alice`).size, 1);
  });

  test("a failed entry waits for the user; retry queues it again", () => {
    const box = new Outbox();
    box.add("lobby", "x", "c1", T0);
    box.fail("c1", "invalid_text");
    assert.equal(box.next("lobby"), null);
    box.retry("c1");
    assert.equal(box.next("lobby").clientId, "c1");
    assert.equal(box.get("c1").error, null);
  });

  test("a lost connection queues every entry but the failed ones", () => {
    const box = new Outbox();
    box.add("lobby", "a", "c1", T0);
    box.add("lobby", "b", "c2", T0);
    box.add("lobby", "c", "c3", T0);
    box.markSending("c1");
    box.fail("c3", "internal");
    const moved = box.requeueAll("offline").map((e) => e.clientId);
    assert.deepEqual(moved, ["c1", "c2"]);
    assert.equal(box.get("c1").state, Delivery.QUEUED);
    assert.equal(box.get("c3").state, Delivery.FAILED);
  });

  test("malformed or unreadable storage is an empty outbox", () => {
    const storage = new MemoryStorage();
    storage.setItem(OUTBOX_KEY, "{not json");
    assert.equal(new Outbox(storage).size, 0);
    storage.setItem(OUTBOX_KEY, JSON.stringify([{ clientId: 1 }, null, "x"]));
    assert.equal(new Outbox(storage).size, 0);
  });

  test("a storage that refuses writes still queues in memory", () => {
    const box = new Outbox(new MemoryStorage(true));
    box.add("lobby", "x", "c1", T0);
    assert.equal(box.next("lobby").text, "x");
  });
});

describe("Outbox failure kinds", () => {
  test("no answer, offline and passing refusals are transient; the rest are final", () => {
    assert.equal(isTransient({ code: "unavailable", lost: true }), true);
    assert.equal(isTransient({ code: "unavailable", offline: true }), true);
    assert.equal(isTransient({ code: "unavailable" }), true);
    assert.equal(isTransient({ code: "rate_limited" }), true);
    assert.equal(isTransient({ code: "not_in_room" }), true);
    for (const code of ["message_too_long", "invalid_text", "bad_request", "forbidden", "internal"]) {
      assert.equal(isTransient({ code }), false, code);
    }
  });

  test("a waiting entry says what it waits for", () => {
    assert.equal(waitReason({ code: "unavailable", offline: true }), "offline");
    assert.equal(waitReason({ code: "unavailable", lost: true }), "lost");
    assert.equal(waitReason({ code: "rate_limited" }), "rate_limited");
    assert.equal(pendingText({ state: Delivery.SENDING, error: null }), "Sending…");
    assert.equal(pendingText({ state: Delivery.QUEUED, error: "unavailable" }), "Waiting for the service…");
    assert.equal(pendingText({ state: Delivery.QUEUED, error: null }), "Waiting to send…");
  });
});

describe("identity", () => {
  test("tokens use only the protocol's characters", () => {
    const bytes = (n) => Uint8Array.from({ length: n }, (_, i) => i * 37);
    const token = randomToken(64, bytes);
    assert.match(token, /^[A-Za-z0-9_-]{64}$/);
    assert.match(newClientId(), CLIENT_ID_RE);
    assert.notEqual(newClientId(), newClientId());
  });

  test("the key is created once and then kept", () => {
    const storage = new MemoryStorage();
    const key = loadKey(storage);
    assert.match(key, KEY_RE);
    assert.equal(storage.getItem(KEY_STORAGE), key);
    assert.equal(loadKey(storage), key);
  });

  test("a malformed stored key is replaced", () => {
    const storage = new MemoryStorage();
    storage.setItem(KEY_STORAGE, "short");
    const key = loadKey(storage);
    assert.match(key, KEY_RE);
    assert.notEqual(key, "short");
  });

  test("without storage each page still has a valid key", () => {
    assert.match(loadKey(null), KEY_RE);
    assert.match(loadKey(new MemoryStorage(true)), KEY_RE);
  });
});

// ---- the sender, with fakes ---------------------------------------------------------

/** A socket whose acks the test answers by hand, in order. */
class FakeSocket {
  constructor() {
    this.connected = true;
    this.sent = [];
  }

  timeout() {
    return this;
  }

  emit(event, payload, ack) {
    this.sent.push({ event, payload, ack });
  }

  answer(reply) {
    const { ack } = this.sent.shift();
    ack(null, reply);
  }

  lose() {
    const { ack } = this.sent.shift();
    ack(new Error("operation has timed out"));
  }
}

class FakeView {
  constructor() {
    this.pending = new Map();
  }

  showPending(room, entry) {
    this.pending.set(entry.clientId, { ...entry });
  }

  removePending(room, clientId) {
    this.pending.delete(clientId);
  }
}

function setup() {
  const store = new ChatStore();
  const state = store.add("lobby");
  state.status = "joined";
  state.name = "ann";
  const view = new FakeView();
  const delivered = [];
  let n = 0;
  const sender = new Sender({
    store,
    view,
    outbox: new Outbox(),
    newId: () => `c${++n}`,
    deliver: (message) => delivered.push(message),
    rejoin: () => {},
  });
  sender.socket = new FakeSocket();
  return { store, state, view, sender, delivered, socket: sender.socket };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

function accepted(clientId, id, name = "ann") {
  return { id, room: "lobby", name, text: "t", ts: T0, epoch: "e1", client_id: clientId };
}

describe("Sender", () => {
  test("one message at a time, in order, each with its client_id", async () => {
    const { state, sender, socket, delivered, view } = setup();
    sender.submit(state, "one");
    sender.submit(state, "two");
    await flush();
    assert.deepEqual(socket.sent.map((s) => s.payload), [{ room: "lobby", text: "one", client_id: "c1" }]);
    socket.answer({ ok: true, message: accepted("c1", 1) });
    await flush();
    assert.deepEqual(socket.sent.map((s) => s.payload.client_id), ["c2"]);
    socket.answer({ ok: true, message: accepted("c2", 2) });
    await flush();
    assert.deepEqual(delivered.map((m) => m.id), [1, 2]);
    assert.equal(view.pending.size, 0);
    assert.equal(sender.outbox.size, 0);
  });

  test("a message event that overtakes the ack settles the entry once", async () => {
    const { state, sender, socket, delivered, view } = setup();
    sender.submit(state, "one");
    await flush();
    assert.equal(sender.settle(state, accepted("c1", 1)), true);
    assert.equal(view.pending.size, 0);
    socket.answer({ ok: true, message: accepted("c1", 1) });
    await flush();
    assert.deepEqual(delivered, []);
  });

  test("another user's message with our client_id does not touch the outbox", () => {
    const { state, sender } = setup();
    sender.submit(state, "one");
    assert.equal(sender.settle(state, accepted("c1", 1, "mallory")), false);
    assert.equal(sender.outbox.size, 1);
  });

  test("no answer keeps the message pending and sends it again with the same id", async () => {
    const { state, sender, socket, view } = setup();
    sender.submit(state, "one");
    await flush();
    socket.lose();
    await flush();
    assert.equal(view.pending.get("c1").state, Delivery.QUEUED);
    assert.equal(view.pending.get("c1").error, "lost");
    sender.connectionLost();
    sender.pump("lobby");
    await flush();
    assert.deepEqual(socket.sent.map((s) => s.payload.client_id), ["c1"]);
    socket.answer({ ok: true, duplicate: true, message: accepted("c1", 1) });
    await flush();
    assert.equal(view.pending.size, 0);
  });

  test("unavailable keeps the message pending; the queue stops behind it", async () => {
    const { state, sender, socket, view } = setup();
    sender.submit(state, "one");
    sender.submit(state, "two");
    await flush();
    socket.answer({ ok: false, error: { code: "unavailable", message: "down" } });
    await flush();
    assert.equal(socket.sent.length, 0);
    assert.equal(view.pending.get("c1").error, "unavailable");
    assert.equal(view.pending.get("c2").state, Delivery.QUEUED);
    sender.connectionLost(); // clears the retry timer so the test leaves none behind
  });

  test("a final refusal offers retry; the next message still goes", async () => {
    const { state, sender, socket, view } = setup();
    sender.submit(state, "too long");
    sender.submit(state, "fine");
    await flush();
    socket.answer({ ok: false, error: { code: "message_too_long", message: "long" } });
    await flush();
    assert.equal(view.pending.get("c1").state, Delivery.FAILED);
    assert.deepEqual(socket.sent.map((s) => s.payload.client_id), ["c2"]);
    socket.answer({ ok: true, message: accepted("c2", 1) });
    await flush();
    sender.retry("c1");
    await flush();
    assert.deepEqual(socket.sent.map((s) => s.payload.client_id), ["c1"]);
    sender.discard("c1");
    assert.equal(view.pending.size, 0);
  });

  test("nothing is sent while the room is not joined or the socket is down", async () => {
    const { state, sender, socket } = setup();
    state.status = "offline";
    sender.submit(state, "later");
    await flush();
    assert.equal(socket.sent.length, 0);
    state.status = "joined";
    socket.connected = false;
    sender.pump("lobby");
    await flush();
    assert.equal(socket.sent.length, 0);
    socket.connected = true;
    sender.pump("lobby");
    await flush();
    assert.equal(socket.sent.length, 1);
  });
});

describe("Sender across a disconnect", () => {
  test("an answer lost to a disconnect waits for the connection, with no timer", async () => {
    const { state, sender, socket, view } = setup();
    sender.submit(state, "one");
    await flush();
    socket.connected = false;
    sender.connectionLost();
    socket.lose(); // socket.io fails pending acks when the socket closes
    await flush();
    assert.equal(view.pending.get("c1").error, "offline");
    assert.equal(sender.timers.size, 0);
  });
});

describe("Sender and leaving", () => {
  test("leaving a room drops its unsent messages, not the other rooms'", () => {
    const { store, state, sender, view } = setup();
    const other = store.add("other");
    other.status = "offline";
    state.status = "offline";
    sender.submit(state, "in lobby");
    sender.submit(other, "elsewhere");
    sender.forgetRoom("lobby");
    assert.deepEqual([...sender.outbox.entries.values()].map((e) => e.room), ["other"]);
    assert.deepEqual([...view.pending.keys()], ["c2"]);
  });
});
