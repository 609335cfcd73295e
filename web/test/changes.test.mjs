// Unit tests of version 3 on the page: message versions, read positions, older history
// (store.js), what is shown around messages (changes.js), the room browser's list,
// alerts, the connection label, and the RoomController's joins, removals and notices.
// Run with `cd web && npm test` (node --test).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { wantsAlert } from "../static/js/alerts.js";
import {
  allowedActions,
  isLong,
  lastOwnMessage,
  reactionSummary,
  removalText,
  seenByLabel,
  snippet,
  whoReacted,
} from "../static/js/changes.js";
import { ChatStore } from "../static/js/chatstore.js";
import { browsableRooms } from "../static/js/roombrowser.js";
import { JoinRetries } from "../static/js/retries.js";
import { RoomController } from "../static/js/rooms.js";
import { RoomState, Status } from "../static/js/store.js";
import { ConnectionStatus } from "../static/js/status.js";

const T0 = 1_700_000_000_000;

function msg(id, extra = {}) {
  return { id, v: 0, room: "lobby", name: "ann", text: `m${id}`, ts: T0 + id * 1000, epoch: "e1", ...extra };
}

function joined(history, extra = {}) {
  const room = new RoomState("lobby");
  room.startJoin();
  room.completeJoin({ ok: true, room: "lobby", name: "ann", epoch: "e1", members: ["ann", "bob"], history, ...extra });
  return room;
}

describe("message versions", () => {
  test("an update with a higher v replaces the message; a stale or equal one is ignored", () => {
    const room = joined([msg(1), msg(2)]);
    const edited = msg(2, { v: 2, text: "fixed", edited: T0 });
    assert.deepEqual(room.update(edited), edited);
    assert.equal(room.update(msg(2, { v: 1, text: "older" })), null);
    assert.equal(room.update(msg(2, { v: 2, text: "same v" })), null);
    assert.equal(room.message(2).text, "fixed");
  });

  test("an update for a message never shown is ignored", () => {
    const room = joined([msg(5)]);
    assert.equal(room.update(msg(4, { v: 1 })), null);
  });

  test("updates during a join wait for its reply and apply after the history", () => {
    const room = joined([msg(1)]);
    room.goOffline();
    room.startJoin();
    assert.equal(room.update(msg(1, { v: 3, deleted: true, text: "" })), "held");
    const { updates } = room.completeJoin({
      ok: true,
      name: "ann",
      epoch: "e1",
      members: [],
      history: [msg(2)],
      updated: [msg(1, { v: 1, text: "edit 1" })],
    });
    assert.deepEqual(updates.map((m) => m.v), [1, 3]);
    assert.equal(room.message(1).deleted, true);
  });

  test("a rejoin's history and updated recover edits made while away", () => {
    const room = joined([msg(1), msg(2)]);
    room.goOffline();
    room.startJoin();
    const { shown, updates } = room.completeJoin({
      ok: true,
      name: "ann",
      epoch: "e1",
      members: [],
      history: [msg(3)],
      updated: [msg(1, { v: 2, text: "edited while away" }), msg(2, { v: 1, deleted: true, text: "" })],
    });
    assert.deepEqual(shown.map((e) => e.message.id), [3]);
    assert.deepEqual(updates.map((m) => [m.id, m.v]), [[1, 2], [2, 1]]);
  });
});

describe("read positions", () => {
  test("the join's last_read and reads; positions only move forward", () => {
    const room = joined([msg(1), msg(2, { name: "bob" }), msg(3, { name: "bob" })], {
      last_read: 1,
      reads: { bob: 3, cleo: 2 },
    });
    assert.equal(room.lastRead, 1);
    assert.equal(room.unreadCount("ann"), 2);
    assert.equal(room.setRead("bob", 2, "ann"), false);
    assert.equal(room.setRead("ANN", 3, "ann"), true);
    assert.equal(room.unreadCount("ann"), 0);
  });

  test("seen by: members whose position reaches the user's latest message", () => {
    const room = joined([msg(1), msg(2, { name: "bob" }), msg(3)], { reads: { bob: 3, cleo: 2, ann: 3 } });
    const id = room.ownLatestId("ann");
    assert.equal(id, 3);
    assert.deepEqual(room.seenBy(id, "ann"), ["bob"]);
    assert.equal(seenByLabel(["bob"]), "Seen by bob");
    assert.equal(seenByLabel(["a", "b", "c", "d", "e"]), "Seen by a, b, c and 2 others");
    assert.equal(seenByLabel([]), "");
  });

  test("a history reset forgets every position", () => {
    const room = joined([msg(1)], { last_read: 1, reads: { bob: 1 } });
    room.goOffline();
    room.startJoin();
    room.completeJoin({ ok: true, name: "ann", epoch: "e2", reset: true, members: [], history: [], last_read: 0, reads: {} });
    assert.equal(room.lastRead, 0);
    assert.deepEqual([...room.reads], []);
  });
});

describe("older history", () => {
  test("a page before the oldest shown message, then the end of the kept history", () => {
    const room = joined([msg(51), msg(52)]);
    assert.deepEqual(room.olderPayload(50), { room: "lobby", before: 51, limit: 50 });
    const page = Array.from({ length: 50 }, (_, i) => msg(i + 1));
    const entries = room.prepend(page, 50);
    assert.equal(entries.length, 50);
    assert.equal(entries[1].grouped, true);
    assert.equal(room.oldestId, 1);
    assert.equal(room.historyDone, true);
  });

  test("a short page means nothing older is kept; repeats are not shown twice", () => {
    const room = joined([msg(10)]);
    const entries = room.prepend([msg(8), msg(9), msg(10)], 50);
    assert.deepEqual(entries.map((e) => e.message.id), [8, 9]);
    assert.equal(room.historyDone, true);
  });

  test("a join that starts at message 1 has nothing older", () => {
    assert.equal(joined([msg(1), msg(2)]).historyDone, true);
    assert.equal(joined([msg(7)]).historyDone, false);
  });
});

describe("what is shown around messages", () => {
  const reacted = msg(1, { reactions: { "👍": { count: 3, names: ["Bob", "cleo"] }, "🎉": { count: 0, names: [] } } });

  test("reactions: counts, names, the reader's own highlighted", () => {
    assert.deepEqual(reactionSummary(reacted, "bob"), [
      { emoji: "👍", count: 3, names: ["Bob", "cleo"], mine: true },
    ]);
    assert.equal(whoReacted({ names: ["Bob", "cleo"], count: 3 }), "Bob, cleo and 1 other");
    assert.deepEqual(reactionSummary({ ...reacted, deleted: true }, "bob"), []);
    assert.deepEqual(reactionSummary({ ...reacted, reactions: "junk" }, "bob"), []);
  });

  test("actions: others' messages can be answered, own ones edited, moderators delete any", () => {
    assert.deepEqual(allowedActions(msg(1), "ANN"), { reply: true, react: true, edit: true, delete: true });
    assert.deepEqual(allowedActions(msg(1), "bob"), { reply: true, react: true, edit: false, delete: false });
    assert.equal(allowedActions(msg(1), "bob", true).delete, true);
    assert.equal(allowedActions(msg(1, { system: true }), "ann").edit, false);
    assert.deepEqual(allowedActions(msg(1, { deleted: true }), "ann", true), {
      reply: false,
      react: false,
      edit: false,
      delete: false,
    });
  });

  test("Up arrow edits the newest live own message", () => {
    const shown = [msg(1), msg(2, { name: "bob" }), msg(3, { deleted: true }), msg(4, { name: "bob" })];
    assert.equal(lastOwnMessage(shown, "ann").id, 1);
    assert.equal(lastOwnMessage(shown, "zed"), null);
  });

  test("reply quotes, long messages, removal texts", () => {
    assert.equal(snippet(msg(1, { text: "\n  first line  \nsecond" })), "first line");
    assert.equal(snippet(msg(1, { text: "> **PR 42** is _ready_ `now`" })), "PR 42 is ready now");
    assert.equal(snippet(msg(1, { text: "x".repeat(100) })), `${"x".repeat(80)}…`);
    assert.equal(snippet(msg(1, { deleted: true, text: "" })), "message deleted");
    assert.equal(snippet(null), "an earlier message");
    assert.equal(isLong("x".repeat(601)), true);
    assert.equal(isLong("a\n".repeat(8)), true);
    assert.equal(isLong("short"), false);
    const date = (ms) => new Date(ms).toISOString();
    assert.equal(
      removalText({ room: "lobby", by: "mod", reason: "spam" }, date),
      "You were removed from #lobby by mod. Reason: spam You may join it again.",
    );
    assert.equal(
      removalText({ room: "lobby", by: "api", banned: true, until: 0 }, date),
      "You are banned from #lobby until 1970-01-01T00:00:00.000Z (by the application).",
    );
    assert.match(removalText({ room: "lobby", banned: true, until: null }, date), /until a moderator lifts the ban/u);
  });

  test("the room browser: active rooms, then allowed ones, joined ones marked", () => {
    const rows = browsableRooms(
      [{ room: "lobby", members: 3 }, { room: 5, members: 1 }],
      ["Lobby", "Design", "bad room"],
      ["design"],
    );
    assert.deepEqual(rows, [
      { room: "lobby", members: 3, joined: false },
      { room: "design", members: 0, joined: true },
    ]);
  });

  test("alerts: mentions always, other messages only if asked and hidden", () => {
    const on = { desktop: true, sound: false, all: false };
    assert.equal(wantsAlert(on, { mentioned: true, hidden: false }), true);
    assert.equal(wantsAlert(on, { mentioned: false, hidden: true }), false);
    assert.equal(wantsAlert({ ...on, all: true }, { mentioned: false, hidden: true }), true);
    assert.equal(wantsAlert({ desktop: false, sound: false, all: true }, { mentioned: true, hidden: true }), false);
  });
});

describe("connection label", () => {
  test("offline only when the browser is; reconnecting while the service is unreachable", () => {
    const status = new ConnectionStatus();
    status.connected();
    status.connecting();
    assert.deepEqual(status.view(false, 2), {
      state: "connecting",
      label: "Reconnecting… (2 unsent)",
      slow: false,
    });
    status.setOnline(false);
    assert.deepEqual(status.view(false, 1), { state: "disconnected", label: "Offline (1 unsent)", slow: false });
    status.setOnline(true);
    status.disconnected();
    assert.equal(status.view().label, "Reconnecting…");
  });
});

/** A view that records what the controller asked of it. */
class FakeView {
  constructor() {
    this.calls = [];
    this.errorRoom = null;
    this.errorCode = null;
  }

  record(name, ...args) {
    this.calls.push([name, ...args]);
  }

  ensureRoom(room) { this.record("ensureRoom", room); }
  setRoomStatus(room, status) { this.record("status", room, status); }
  setUnread(room, n) { this.record("unread", room, n); }
  setMentions(room, n) { this.record("mentions", room, n); }
  setTotalUnread(n) { this.record("total", n); }
  showRoom(room) { this.record("showRoom", room); }
  markUnread(room, n) { this.record("markUnread", room, n); }
  renderMembers(names) { this.record("members", names); }
  renderTyping() {}
  hideNameForm() {}
  showNameForm() {}
  setComposer(enabled, placeholder) { this.record("composer", enabled, placeholder); }
  appendMessage(room, entry) { this.record("message", room, entry.message.id); }
  appendNotice(room, text, kind) { this.record("notice", room, kind, text); }
  showError(text, code, room, extra) { this.errorCode = code; this.errorRoom = room; this.record("error", code, text, extra); }
  clearError() { this.errorCode = null; this.errorRoom = null; }
  pane() { return null; }
  removeRoom(room) { this.record("removeRoom", room); }
}

function controller(replies) {
  const store = new ChatStore();
  const view = new FakeView();
  const typing = { room: null, stop() {}, reset() {} };
  const rooms = new RoomController({ store, view, typing, limits: { maxText: 2000, maxName: 32 }, key: "k".repeat(32) });
  const sent = [];
  rooms.socket = {
    connected: true,
    timeout: () => ({
      emit: (event, payload, ack) => {
        sent.push([event, payload]);
        ack(null, replies[event]?.(payload) ?? { ok: true });
      },
    }),
  };
  store.defaultName = "ann";
  return { store, view, rooms, sent };
}

describe("RoomController", () => {
  const joinReply = (extra = {}) => () => ({
    ok: true,
    room: "lobby",
    name: "ann",
    epoch: "e1",
    members: ["ann", "bob"],
    history: [msg(1, { name: "bob" }), msg(2, { name: "bob", text: "hi @ann" }), msg(3)],
    updated: [],
    last_read: 1,
    reads: { bob: 3 },
    ...extra,
  });

  test("a first join shows the history and the unread divider from the server's position", async () => {
    const { rooms, view, sent } = controller({ join: joinReply() });
    const state = rooms.addRoom("lobby");
    rooms.switchRoom("lobby");
    await rooms.joinRoom(state);
    assert.deepEqual(sent[0], ["join", { room: "lobby", name: "ann", key: "k".repeat(32) }]);
    assert.equal(state.status, Status.JOINED);
    assert.deepEqual(view.calls.filter((c) => c[0] === "message").map((c) => c[2]), [1, 2, 3]);
    assert.deepEqual(view.calls.find((c) => c[0] === "markUnread" && c[2] > 0), ["markUnread", "lobby", 1]);
    assert.equal(state.reads.get("bob"), 3);
  });

  test("a first visit (last_read 0, never read) shows no divider of old messages", async () => {
    const { rooms, view } = controller({ join: joinReply({ last_read: 0 }) });
    const state = rooms.addRoom("lobby");
    rooms.switchRoom("lobby");
    await rooms.joinRoom(state);
    assert.equal(view.calls.some((c) => c[0] === "markUnread" && c[2] > 0), false);
  });

  test("a room not in view counts unread messages and mentions of the reader", async () => {
    const { rooms, store, view } = controller({ join: joinReply({ history: [] }) });
    rooms.addRoom("lobby");
    rooms.addRoom("other");
    rooms.switchRoom("other");
    const state = store.get("lobby");
    await rooms.joinRoom(state);
    const entry = state.receive(msg(4, { name: "bob", text: "@Ann look" }));
    rooms.showEntries(state, [entry], true);
    assert.equal(state.unread, 1);
    assert.equal(state.mentionCount, 1);
    assert.deepEqual(view.calls.filter((c) => c[0] === "mentions").at(-1), ["mentions", "lobby", 1]);
    rooms.switchRoom("lobby");
    assert.deepEqual(view.calls.filter((c) => c[0] === "mentions").at(-1), ["mentions", "lobby", 0]);
  });

  test("a banned join says until when and is not retried", async () => {
    const until = T0 + 3_600_000;
    const { rooms, store, view, sent } = controller({
      join: () => ({ ok: false, error: { code: "banned", message: "banned", until } }),
    });
    const state = rooms.addRoom("lobby");
    rooms.switchRoom("lobby");
    await rooms.joinRoom(state);
    assert.equal(state.status, Status.REMOVED);
    const error = view.calls.find((c) => c[0] === "error");
    assert.equal(error[1], "banned");
    assert.match(error[2], /banned from #lobby until/u);
    rooms.joinAll();
    assert.equal(sent.length, 1);
    assert.equal(store.get("lobby"), state);
  });

  test("a kick says by whom and why, and offers to join again", async () => {
    const { rooms, view, sent } = controller({ join: joinReply() });
    const state = rooms.addRoom("lobby");
    rooms.switchRoom("lobby");
    await rooms.joinRoom(state);
    rooms.removed(state, { room: "lobby", by: "mod", reason: "calm down" });
    assert.equal(state.status, Status.REMOVED);
    const error = view.calls.findLast((c) => c[0] === "error");
    assert.equal(error[2], "You were removed from #lobby by mod. Reason: calm down You may join it again.");
    error[3].action.run();
    assert.equal(sent.at(-1)[0], "join");
  });

  test("a forbidden room goes, and the error offers the rooms the person may join", async () => {
    const { rooms, store, view } = controller({ join: () => ({ ok: false, error: { code: "forbidden", message: "no" } }) });
    let opened = false;
    rooms.onForbidden = () => {
      opened = true;
    };
    const state = rooms.addRoom("secret");
    await rooms.joinRoom(state);
    assert.equal(store.get("secret"), null);
    view.calls.findLast((c) => c[0] === "error")[3].action.run();
    assert.equal(opened, true);
  });

  test("under a token, a taken name explains that the application must give another", async () => {
    const { rooms, view } = controller({ join: () => ({ ok: false, error: { code: "name_taken", message: "" } }) });
    rooms.fixedName = "alice";
    const state = rooms.addRoom("lobby");
    await rooms.joinRoom(state);
    const error = view.calls.findLast((c) => c[0] === "error");
    assert.match(error[2], /another user there is called alice\. Your name comes from your application/u);
    rooms.forgetRoom("lobby"); // stops the retry timer
  });
});

describe("JoinRetries", () => {
  test("a name held by our own old connection is waited for once, then given up", () => {
    const retries = new JoinRetries();
    assert.deepEqual(retries.nameWait("lobby", 0), { first: true, expired: false });
    assert.deepEqual(retries.nameWait("lobby", 10_000), { first: false, expired: false });
    assert.deepEqual(retries.nameWait("lobby", 20_001), { first: false, expired: true });
    retries.reset("lobby");
    assert.deepEqual(retries.nameWait("lobby", 30_000), { first: true, expired: false });
  });

  test("a scheduled retry runs once; a cleared one never", async () => {
    const retries = new JoinRetries();
    let runs = 0;
    retries.schedule("a", () => (runs += 1), 1);
    retries.schedule("b", () => (runs += 100), 1);
    retries.clear("b", { forget: true });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(runs, 1);
  });
});
