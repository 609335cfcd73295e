// Unit tests of the page's pure logic: room state and de-duplication (store.js), text
// rules and link splitting (text.js), typing throttling (typing.js), acks (rpc.js).
// Run with `cd web && npm test` (node --test).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { errorText, replyErrorText, request } from "../static/js/rpc.js";
import { ChatStore } from "../static/js/chatstore.js";
import {
  GROUP_WINDOW_MS,
  RoomState,
  Status,
  TYPING_SHOW_MS,
  isMessage,
} from "../static/js/store.js";
import {
  checkName,
  checkRoom,
  checkText,
  codePointLength,
  splitLinks,
  typingLabel,
} from "../static/js/text.js";
import { TypingNotifier } from "../static/js/typing.js";

const T0 = 1_700_000_000_000;

function msg(
  id,
  { ts = T0 + id * 1000, name = "ann", text = `m${id}`, room = "lobby", epoch = "e1" } = {},
) {
  return { id, room, name, text, ts, epoch };
}

function joinedRoom(history = [], members = ["ann"]) {
  const room = new RoomState("lobby");
  room.startJoin();
  room.completeJoin({ ok: true, room: "lobby", name: "ann", epoch: "e1", members, history });
  return room;
}

function ids(entries) {
  return entries.map((e) => e.message.id);
}

describe("RoomState join payload", () => {
  test("a first join sends no since", () => {
    const room = new RoomState("lobby");
    assert.deepEqual(room.joinPayload("ann"), { room: "lobby", name: "ann" });
  });

  test("a rejoin sends the id of the last message shown and its epoch", () => {
    const room = joinedRoom([msg(1), msg(2), msg(3)]);
    assert.deepEqual(room.joinPayload("ann"), { room: "lobby", name: "ann", since: 3, epoch: "e1" });
  });

  test("a rejoin of a room that had no message asks for everything kept", () => {
    const room = joinedRoom([]);
    assert.deepEqual(room.joinPayload("ann"), { room: "lobby", name: "ann", since: 0, epoch: "e1" });
  });

  test("the browser's key goes with every join", () => {
    const room = new RoomState("lobby");
    const key = "k".repeat(32);
    assert.deepEqual(room.joinPayload("ann", key), { room: "lobby", name: "ann", key });
  });

  test("a server without epochs gets since alone", () => {
    const room = new RoomState("lobby");
    room.startJoin();
    room.completeJoin({ ok: true, name: "ann", members: [], history: [{ ...msg(1), epoch: undefined }] });
    assert.deepEqual(room.joinPayload("ann"), { room: "lobby", name: "ann", since: 1 });
  });
});

describe("RoomState de-duplication", () => {
  test("history then live messages are shown once each, in arrival order", () => {
    const room = joinedRoom([msg(1), msg(2)]);
    assert.equal(room.receive(msg(3)).message.id, 3);
    assert.equal(room.receive(msg(2)), "duplicate");
    assert.equal(room.receive(msg(3)), "duplicate");
    assert.equal(room.lastId, 3);
  });

  test("a rejoin's history skips what was already shown", () => {
    const room = joinedRoom([msg(1), msg(2)]);
    room.receive(msg(3));
    room.goOffline();
    const since = room.joinPayload("ann").since;
    room.startJoin();
    // A server could send overlapping history; (id, ts) pairs already seen are skipped.
    const { shown, missed, rejoin } = room.completeJoin({
      ok: true, name: "ann", members: ["ann"], history: [msg(3), msg(4), msg(5)],
    });
    assert.equal(since, 3);
    assert.deepEqual(ids(shown), [4, 5]);
    assert.equal(missed, 0);
    assert.equal(rejoin, true);
    assert.equal(room.lastId, 5);
  });

  test("live messages that arrive during a join wait for its history", () => {
    const room = joinedRoom([msg(1)]);
    room.goOffline();
    room.startJoin();
    assert.equal(room.receive(msg(4)), "held");
    assert.equal(room.receive(msg(5)), "held");
    const { shown } = room.completeJoin({
      ok: true, name: "ann", members: ["ann"], history: [msg(2), msg(3), msg(4)],
    });
    assert.deepEqual(ids(shown), [2, 3, 4, 5]);
  });

  test("a reused id in a new epoch is a new message", () => {
    const room = joinedRoom([msg(1), msg(2), msg(3)]);
    const fresh = msg(1, { epoch: "e2", text: "after reset" });
    const entry = room.receive(fresh);
    assert.equal(entry.message.text, "after reset");
    assert.equal(room.lastId, 1);
    assert.equal(room.epoch, "e2");
    assert.equal(room.receive(fresh), "duplicate");
    assert.equal(room.receive(msg(1, { ts: T0 + 999_000 })), "duplicate");
  });

  test("a join answered with reset replaces what was shown", () => {
    const room = joinedRoom([msg(1), msg(2), msg(3)]);
    room.goOffline();
    room.startJoin();
    const history = [msg(1, { epoch: "e2" }), msg(2, { epoch: "e2" })];
    const { shown, missed, reset } = room.completeJoin({
      ok: true, name: "ann", epoch: "e2", reset: true, members: [], history,
    });
    assert.deepEqual(ids(shown), [1, 2]);
    assert.equal(reset, true);
    assert.equal(missed, 0);
    assert.deepEqual(room.joinPayload("ann"), { room: "lobby", name: "ann", since: 2, epoch: "e2" });
  });

  test("a join reply in another epoch is a reset even without the flag", () => {
    const room = joinedRoom([msg(1), msg(2)]);
    room.goOffline();
    room.startJoin();
    const { shown, reset } = room.completeJoin({
      ok: true, name: "ann", epoch: "e3", members: [], history: [msg(1, { epoch: "e3" })],
    });
    assert.equal(reset, true);
    assert.deepEqual(ids(shown), [1]);
  });

  test("a rejoin in the same epoch is no reset", () => {
    const room = joinedRoom([msg(1)]);
    room.goOffline();
    room.startJoin();
    const { reset, shown } = room.completeJoin({
      ok: true, name: "ann", epoch: "e1", members: [], history: [msg(2)],
    });
    assert.equal(reset, false);
    assert.deepEqual(ids(shown), [2]);
  });

  test("messages that fell out of the kept window are counted as missed", () => {
    const room = joinedRoom([msg(1), msg(2)]);
    room.goOffline();
    room.startJoin();
    const { shown, missed } = room.completeJoin({
      ok: true, name: "ann", members: [], history: [msg(10), msg(11)],
    });
    assert.deepEqual(ids(shown), [10, 11]);
    assert.equal(missed, 7);
  });

  test("a first join reports no gap whatever the first id", () => {
    const room = new RoomState("lobby");
    room.startJoin();
    const { missed, rejoin } = room.completeJoin({
      ok: true, name: "ann", members: [], history: [msg(51), msg(52)],
    });
    assert.equal(missed, 0);
    assert.equal(rejoin, false);
  });

  test("malformed history entries are ignored", () => {
    const room = new RoomState("lobby");
    room.startJoin();
    const { shown } = room.completeJoin({
      ok: true, name: "ann", members: [], history: [msg(1), { id: "2" }, null, msg(3)],
    });
    assert.deepEqual(ids(shown), [1, 3]);
  });
});

describe("RoomState grouping", () => {
  test("consecutive messages by one sender are grouped", () => {
    const room = joinedRoom();
    const a = room.receive(msg(1, { name: "bob" }));
    const b = room.receive(msg(2, { name: "bob" }));
    const c = room.receive(msg(3, { name: "cat" }));
    assert.deepEqual([a.grouped, b.grouped, c.grouped], [false, true, false]);
  });

  test("a notice or a long pause starts a new group", () => {
    const room = joinedRoom();
    room.receive(msg(1, { name: "bob" }));
    room.breakGroup();
    assert.equal(room.receive(msg(2, { name: "bob" })).grouped, false);
    const late = msg(3, { name: "bob", ts: T0 + 2000 + GROUP_WINDOW_MS });
    assert.equal(room.receive(late).grouped, false);
  });
});

describe("RoomState members and typing", () => {
  test("members stay sorted and unique", () => {
    const room = joinedRoom([], ["cat", "ann"]);
    assert.deepEqual(room.members, ["ann", "cat"]);
    assert.equal(room.addMember("bob"), true);
    assert.equal(room.addMember("bob"), false);
    assert.deepEqual(room.members, ["ann", "bob", "cat"]);
    assert.equal(room.removeMember("ann"), true);
    assert.equal(room.removeMember("ann"), false);
    assert.deepEqual(room.members, ["bob", "cat"]);
  });

  test("a typing name shows until it expires, stops or sends", () => {
    const room = joinedRoom();
    room.setTyping("bob", true, T0);
    room.setTyping("cat", true, T0);
    assert.deepEqual(room.typingNames(T0 + 1000), ["bob", "cat"]);
    room.setTyping("cat", false, T0 + 1000);
    assert.deepEqual(room.typingNames(T0 + 1000), ["bob"]);
    assert.deepEqual(room.typingNames(T0 + TYPING_SHOW_MS), []);
    room.setTyping("bob", true, T0);
    room.receive(msg(1, { name: "bob" }));
    assert.deepEqual(room.typingNames(T0), []);
  });

  test("going offline forgets typers and held messages", () => {
    const room = joinedRoom();
    room.setTyping("bob", true, T0);
    room.goOffline();
    assert.equal(room.status, Status.OFFLINE);
    assert.deepEqual(room.typingNames(T0), []);
  });
});

describe("ChatStore", () => {
  test("unread counts only rooms not on screen", () => {
    const store = new ChatStore();
    store.add("a");
    store.add("b");
    store.setActive("a");
    assert.equal(store.addUnread("a", 2), 0);
    assert.equal(store.addUnread("b", 2), 2);
    assert.equal(store.totalUnread(), 2);
    store.setActive("b");
    assert.equal(store.totalUnread(), 0);
  });

  test("removing the active room shows its neighbour", () => {
    const store = new ChatStore();
    for (const r of ["a", "b", "c"]) store.add(r);
    store.setActive("b");
    assert.equal(store.remove("b"), "c");
    assert.equal(store.remove("c"), "a");
    assert.equal(store.remove("a"), null);
    assert.equal(store.activeRoom, null);
  });

  test("removing another room keeps the active one", () => {
    const store = new ChatStore();
    store.add("a");
    store.add("b");
    store.setActive("a");
    assert.equal(store.remove("b"), "a");
  });
});

describe("isMessage", () => {
  test("accepts a protocol message and refuses malformed ones", () => {
    assert.equal(isMessage(msg(1)), true);
    assert.equal(isMessage({ ...msg(1), id: 1.5 }), false);
    assert.equal(isMessage({ ...msg(1), text: 3 }), false);
    assert.equal(isMessage(null), false);
  });
});

describe("text rules", () => {
  test("rooms follow the room rule and are lower-cased", () => {
    assert.deepEqual(checkRoom(" Lobby_1 "), { ok: true, room: "lobby_1" });
    assert.equal(checkRoom("a b").ok, false);
    assert.equal(checkRoom("x".repeat(33)).ok, false);
    assert.equal(checkRoom("").ok, false);
  });

  test("names are 1-32 code points after trimming, without control characters", () => {
    assert.deepEqual(checkName("  ann  "), { ok: true, name: "ann" });
    assert.equal(checkName("   ").ok, false);
    assert.equal(checkName("😀".repeat(32)).ok, true);
    assert.equal(checkName("a".repeat(33)).ok, false);
    assert.equal(checkName("a\u0007b").ok, false);
    assert.equal(codePointLength("😀a"), 2);
  });

  test("text is checked for emptiness, control characters and length", () => {
    assert.deepEqual(checkText("  \n "), { ok: false, empty: true });
    assert.deepEqual(checkText(" hi\nthere "), { ok: true, text: "hi\nthere" });
    assert.equal(checkText("a\u0000b").code, "invalid_text");
    assert.equal(checkText("x".repeat(11), 10).code, "message_too_long");
  });
});

describe("splitLinks", () => {
  function roundTrip(text) {
    return splitLinks(text).map((p) => p.text).join("");
  }

  test("http and https URLs become links, trailing punctuation does not", () => {
    const parts = splitLinks("see https://example.org/a?b=1. and http://x.io!");
    assert.deepEqual(
      parts.filter((p) => p.kind === "link").map((p) => p.href),
      ["https://example.org/a?b=1", "http://x.io/"],
    );
    assert.equal(roundTrip("see https://example.org/a?b=1. and http://x.io!"),
      "see https://example.org/a?b=1. and http://x.io!");
  });

  test("balanced parentheses stay in the URL", () => {
    const [link] = splitLinks("https://en.wikipedia.org/wiki/A_(b)").filter((p) => p.kind === "link");
    assert.equal(link.text, "https://en.wikipedia.org/wiki/A_(b)");
    const [inner] = splitLinks("(https://x.org/a)").filter((p) => p.kind === "link");
    assert.equal(inner.text, "https://x.org/a");
  });

  test("other schemes and markup stay text", () => {
    for (const text of ["javascript:alert(1)", "<img src=x onerror=alert(1)>", "ftp://x.org", "https://"]) {
      assert.deepEqual(splitLinks(text), [{ kind: "text", text }]);
    }
  });
});

describe("typingLabel", () => {
  test("names one, two, three or many typists", () => {
    assert.equal(typingLabel([]), "");
    assert.equal(typingLabel(["a"]), "a is typing…");
    assert.equal(typingLabel(["a", "b"]), "a and b are typing…");
    assert.equal(typingLabel(["a", "b", "c"]), "a, b and c are typing…");
    assert.equal(typingLabel(["a", "b", "c", "d"]), "a, b and 2 others are typing…");
  });
});

describe("TypingNotifier", () => {
  function harness() {
    const sent = [];
    const clock = { now: T0, timers: new Map(), next: 1 };
    const notifier = new TypingNotifier((room, typing) => sent.push([room, typing]), {
      now: () => clock.now,
      setTimer: (fn, ms) => {
        const id = clock.next++;
        clock.timers.set(id, { fn, at: clock.now + ms });
        return id;
      },
      clearTimer: (id) => clock.timers.delete(id),
    });
    const advance = (ms) => {
      clock.now += ms;
      for (const [id, timer] of [...clock.timers]) {
        if (timer.at <= clock.now) {
          clock.timers.delete(id);
          timer.fn();
        }
      }
    };
    return { sent, notifier, advance };
  }

  test("true is sent at most once per 2 s while typing", () => {
    const { sent, notifier, advance } = harness();
    notifier.input("a");
    advance(500);
    notifier.input("a");
    advance(1000);
    notifier.input("a");
    advance(600);
    notifier.input("a");
    assert.deepEqual(sent, [["a", true], ["a", true]]);
  });

  test("false follows 3 s of silence, once", () => {
    const { sent, notifier, advance } = harness();
    notifier.input("a");
    advance(2999);
    assert.deepEqual(sent, [["a", true]]);
    advance(1);
    advance(5000);
    assert.deepEqual(sent, [["a", true], ["a", false]]);
  });

  test("stop, an emptied box and a room switch send false", () => {
    const { sent, notifier } = harness();
    notifier.input("a");
    notifier.stop();
    notifier.stop();
    notifier.input("a");
    notifier.input("b");
    notifier.input("b", false);
    assert.deepEqual(sent, [
      ["a", true], ["a", false], ["a", true], ["a", false], ["b", true], ["b", false],
    ]);
  });

  test("reset forgets without sending", () => {
    const { sent, notifier, advance } = harness();
    notifier.input("a");
    notifier.reset();
    advance(10_000);
    assert.deepEqual(sent, [["a", true]]);
  });
});

describe("request", () => {
  function fakeSocket({ connected = true, reply, err } = {}) {
    const calls = [];
    return {
      calls,
      connected,
      timeout(ms) {
        return {
          emit(event, payload, ack) {
            calls.push({ ms, event, payload });
            queueMicrotask(() => ack(err ?? null, reply));
          },
        };
      },
    };
  }

  test("emits with an ack and an 8 s timeout, passing a success through", async () => {
    const socket = fakeSocket({ reply: { ok: true, room: "a" } });
    assert.deepEqual(await request(socket, "leave", { room: "a" }), { ok: true, room: "a" });
    assert.deepEqual(socket.calls, [{ ms: 8000, event: "leave", payload: { room: "a" } }]);
  });

  test("a timeout is an unavailable error whose outcome is unknown", async () => {
    const socket = fakeSocket({ err: new Error("operation has timed out") });
    const reply = await request(socket, "send_message", { room: "a", text: "x" });
    assert.equal(reply.ok, false);
    assert.equal(reply.error.code, "unavailable");
    assert.equal(reply.error.lost, true);
  });

  test("nothing is emitted while disconnected", async () => {
    const socket = fakeSocket({ connected: false });
    const reply = await request(socket, "join", { room: "a", name: "b" });
    assert.equal(reply.error.offline, true);
    assert.deepEqual(socket.calls, []);
  });

  test("a refusal keeps its code; a malformed reply is internal", async () => {
    const refused = { ok: false, error: { code: "name_taken", message: "taken" } };
    assert.deepEqual(await request(fakeSocket({ reply: refused }), "join", {}), refused);
    const odd = await request(fakeSocket({ reply: "nope" }), "join", {});
    assert.equal(odd.error.code, "internal");
  });

  test("every protocol code has its own human text", () => {
    const codes = [
      "name_taken", "invalid_name", "rate_limited", "message_too_long", "invalid_text",
      "unavailable", "not_in_room", "bad_request", "invalid_room", "internal",
    ];
    const texts = codes.map((code) => errorText(code, { maxText: 2000, maxName: 32 }));
    assert.equal(new Set(texts).size, codes.length);
    assert.match(errorText("message_too_long", { maxText: 500 }), /500/);
    assert.equal(errorText("brand_new", {}, "From server."), "From server.");
    assert.match(replyErrorText({ code: "unavailable", lost: true }), /did not answer/);
  });
});
