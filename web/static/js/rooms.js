// The rooms of the chat page: adding, showing, joining (with retries), leaving. It keeps
// store.js (state) and view.js (DOM) in step; chat.js feeds it socket events and input.

import { removalText } from "./changes.js";
import { formatFull } from "./dates.js";
import { Attention } from "./attention.js";
import { firstJoinInTab, saveName } from "./prefs.js";
import { errorText, replyErrorText, request } from "./rpc.js";
import { NAME_RETRY_MS, JoinRetries } from "./retries.js";
import { Status } from "./store.js";
import { typingLabel } from "./text.js";


const PLACEHOLDER = {
  [Status.NEW]: (room) => `Message #${room}`,
  [Status.JOINING]: (room) => `Message #${room}`,
  [Status.JOINED]: (room) => `Message #${room}`,
  [Status.OFFLINE]: (room) => `Message #${room} (sent once reconnected)`,
  [Status.NEEDS_NAME]: () => "Choose a name first",
  [Status.FAILED]: (room) => `Message #${room} (sent once the room is joined)`,
  [Status.REMOVED]: (room) => `You are no longer in #${room}`,
};

export class RoomController {
  constructor({ store, view, typing, limits, key = null, fixedName = null }) {
    this.key = key; // the browser's key: one user across tabs and reconnects
    this.fixedName = fixedName; // identity on: the token's name, which cannot be changed
    this.sender = null; // set by chat.js; the outbox follows the rooms
    this.store = store;
    this.view = view;
    this.typing = typing;
    this.limits = limits;
    this.socket = null; // set once chat.js has connected
    this.retries = new JoinRetries();
    this.attention = new Attention({ store, view }); // unread, mentions, alerts
    this.moderator = false; // identity on and the token's roles hold "moderator"
    this.edits = null; // edits.js: updates, read positions, older history (set by chat.js)
    this.onForbidden = () => {}; // opens the room browser (set by chat.js)
  }

  /** What a message element needs to know of the reader in `room`. */
  messageContext(room) {
    const state = this.store.get(room);
    const ownName = state ? this.nameFor(state) : "";
    const names = state ? [...state.members, ...state.senders(), ownName].filter(Boolean) : [];
    return {
      ownName,
      names,
      moderator: this.moderator,
      lookup: (id) => state?.message(id) ?? null,
    };
  }

  nameFor(state) {
    return state.name || this.store.defaultName;
  }

  // ---- showing rooms -------------------------------------------------------------------

  addRoom(room) {
    const known = this.store.get(room) !== null;
    const state = this.store.add(room);
    this.view.ensureRoom(room);
    if (!this.nameFor(state)) state.status = Status.NEEDS_NAME;
    this.view.setRoomStatus(room, state.status);
    if (!known) this.sender?.showRoom(state);
    return state;
  }

  switchRoom(room) {
    if (!this.store.get(room)) return;
    if (this.typing.room !== null && this.typing.room !== room) this.typing.stop();
    const returning = this.store.active !== room;
    if (returning) this.attention.switched();
    const unread = this.store.get(room).unread;
    const state = this.store.setActive(room);
    state.mentionCount = 0;
    if (this.edits?.mode && this.edits.mode.room !== room) this.edits.cancel(); // reply or edit stays in its room
    this.view.setUnread(room, 0);
    this.view.setMentions(room, 0);
    this.view.showRoom(room);
    if (returning) this.view.markUnread(room, unread);
    this.refreshActive();
    this.followAddress();
    this.edits?.seen();
  }

  /** The address names the active room and, identity off, the name in use there. */
  followAddress() {
    const state = this.store.activeRoom;
    if (!state) return;
    try {
      const query = new URLSearchParams(globalThis.location.search);
      if (this.fixedName === null && state.name) query.set("name", state.name);
      const search = query.toString();
      const url = `/rooms/${encodeURIComponent(state.room)}${search ? `?${search}` : ""}`;
      globalThis.history.replaceState(null, "", url);
    } catch {
      // A page opened from a file (or a test without one) has no address to follow.
    }
  }

  refreshRoom(state) {
    this.view.setRoomStatus(state.room, state.status);
    if (state.room === this.store.active) this.refreshActive();
  }

  /** Members, typing line, name form and composer follow the active room. */
  refreshActive() {
    const { view, store } = this;
    const state = store.activeRoom;
    view.setTotalUnread(store.totalUnread());
    if (!state) {
      view.renderMembers([], "");
      view.renderTyping("");
      view.hideNameForm();
      view.setComposer(false, "Join a room to chat");
      return;
    }
    view.renderMembers(state.members, this.nameFor(state), this.moderator);
    this.refreshTyping();
    const canType = state.status !== Status.NEEDS_NAME && state.status !== Status.REMOVED;
    view.setComposer(canType, PLACEHOLDER[state.status](state.room));
    if (state.status === Status.NEEDS_NAME) {
      view.showNameForm(state.room, { value: store.defaultName, focus: false });
    } else {
      view.hideNameForm();
    }
  }

  refreshTyping() {
    const state = this.store.activeRoom;
    this.view.renderTyping(state ? typingLabel(state.typingNames(Date.now())) : "");
  }

  showEntries(state, entries, countUnread) {
    const own = this.nameFor(state);
    for (const entry of entries) this.view.appendMessage(state.room, entry, own);
    if (countUnread) this.attention.shown(state, entries, own);
  }

  notice(state, text, kind, ts) {
    state.breakGroup();
    this.view.appendNotice(state.room, text, kind, ts);
  }

  forgetRoom(room) {
    this.retries.clear(room, { forget: true });
    this.sender?.forgetRoom(room);
    if (this.typing.room === room) this.typing.reset();
    const wasActive = this.store.active === room;
    const next = this.store.remove(room);
    this.view.removeRoom(room);
    if (wasActive) {
      this.view.showRoom(next);
      if (next !== null) this.switchRoom(next);
    }
    this.refreshActive();
  }

  // ---- joining -------------------------------------------------------------------------

  /** Joins (or rejoins, with `since`) one room; failures decide what happens next. */
  async joinRoom(state) {
    this.retries.clear(state.room);
    const name = this.nameFor(state);
    if (!name) {
      this.askForName(state, "");
      return;
    }
    const { socket } = this;
    if (!socket?.connected) return; // the next "connect" joins every room
    const payload = state.joinPayload(name, this.key);
    const token = state.startJoin();
    this.refreshRoom(state);
    const reply = await request(socket, "join", payload);
    if (this.store.get(state.room) !== state) {
      // Left while the join was in flight: do not stay a hidden member.
      if (reply.ok && socket.connected) request(socket, "leave", { room: state.room });
      return;
    }
    if (state.joinToken !== token) return;
    if (reply.ok) this.#onJoined(state, reply);
    else this.#onJoinFailed(state, reply.error);
  }

  /** Rejoins every room that has a name, as after (re)connecting. */
  joinAll() {
    for (const state of this.store.rooms.values()) {
      if (state.status !== Status.NEEDS_NAME && state.status !== Status.REMOVED) this.joinRoom(state);
    }
  }

  /** Joins at once every room whose join failed (the service just came back). */
  retryFailed() {
    for (const state of this.store.rooms.values()) {
      if (state.status === Status.FAILED) this.joinRoom(state);
    }
  }

  /** The connection dropped: no room is joined until the next connect. */
  dropAll() {
    this.typing.reset();
    for (const state of this.store.rooms.values()) {
      this.retries.clear(state.room);
      if (state.status === Status.REMOVED) continue;
      state.goOffline();
      this.view.setRoomStatus(state.room, state.status);
    }
    this.refreshActive();
  }

  askForName(state, error, value = this.store.defaultName) {
    state.status = Status.NEEDS_NAME;
    this.refreshRoom(state);
    if (state.room === this.store.active) {
      this.view.showNameForm(state.room, { value, error, focus: true });
    } else {
      const text = `Pick another name for #${state.room}: open it from the room list.`;
      this.view.showError(text, "name_taken", state.room);
    }
  }

  #onJoined(state, reply) {
    const { shown, missed, rejoin, reset, updates } = state.completeJoin(reply);
    this.retries.reset(state.room);
    if (this.fixedName === null) saveName(state.name);
    if (!this.store.defaultName) this.store.defaultName = state.name;
    if (reset) {
      this.view.clearMessages(state.room);
      this.notice(state, `The history of #${state.room} was reset; showing it from the start.`, "reset");
    }
    // Our own messages in the history end their outbox entries before anything is re-sent.
    for (const { message } of shown) this.sender?.settle(state, message);
    if (missed > 0) {
      const what = missed === 1 ? "1 message was" : `${missed} messages were`;
      this.notice(state, `${what} sent while you were away and ${missed === 1 ? "is" : "are"} no longer kept.`, "gap");
    }
    this.showEntries(state, shown, rejoin);
    for (const message of updates) this.edits?.showUpdate(state, message);
    // 0 is "never read here": a first visit shows the history, not 50 "new" messages.
    if (!rejoin && Number.isInteger(reply.last_read) && reply.last_read > 0) this.attention.fromReadPosition(state, this.nameFor(state));
    if (!rejoin && firstJoinInTab(state.room, state.name)) {
      this.notice(state, `You joined #${state.room} as ${state.name}.`, "self");
    }
    if (this.view.errorRoom === state.room) this.view.clearError();
    this.refreshRoom(state);
    if (state.room === this.store.active) this.followAddress();
    this.edits?.refreshSeenBy(state);
    this.edits?.fillPane(state);
    this.edits?.seen();
    this.sender?.pump(state.room);
  }

  /** Kicked or banned (the `kicked` event, or a join answered `banned`): say why, stop. */
  removed(state, { by = null, reason = null, banned = false, until = null }) {
    this.retries.clear(state.room);
    this.sender?.forgetRoom(state.room);
    state.goOffline();
    state.status = Status.REMOVED;
    state.members = [];
    const text = removalText({ room: state.room, by, reason, banned, until }, formatFull);
    this.notice(state, text, banned ? "banned" : "kicked", Date.now());
    const action = banned ? null : { text: `Join #${state.room} again`, run: () => this.rejoinRemoved(state) };
    this.view.showError(text, banned ? "banned" : "kicked", state.room, { action });
    this.refreshRoom(state);
  }

  rejoinRemoved(state) {
    if (this.store.get(state.room) !== state || state.status !== Status.REMOVED) return;
    state.status = Status.NEW;
    this.joinRoom(state);
  }

  #onJoinFailed(state, error) {
    const { room } = state;
    if (error.offline || (error.lost && !this.socket.connected)) {
      state.goOffline();
      this.refreshRoom(state);
      return;
    }
    const nameRefused = error.code === "name_taken" || error.code === "invalid_name";
    if (error.code === "banned") {
      this.removed(state, { banned: true, until: error.until ?? null });
      return;
    }
    if (error.code === "forbidden") {
      this.forgetRoom(room);
      const action = { text: "See rooms you may join", run: () => this.onForbidden() };
      this.view.showError(`Cannot join #${room}: ${replyErrorText(error, this.limits)}`, error.code, null, { action });
      return;
    }
    if (nameRefused && this.fixedName !== null) {
      // The token's name is the only one this user has: wait for it to be free.
      const why =
        error.code === "name_taken"
          ? `another user there is called ${this.fixedName}. Your name comes from your ` +
            "application, so only it can give you a distinct one: ask its administrator. " +
            "Trying again meanwhile…"
          : replyErrorText(error, this.limits);
      state.status = Status.FAILED;
      this.refreshRoom(state);
      this.view.showError(`Could not join #${room}: ${why}`, error.code, room);
      this.#scheduleRetry(state);
      return;
    }
    if (error.code === "name_taken" && state.everJoined && this.#waitForOldName(state)) return;
    if (nameRefused) {
      const rejected = this.nameFor(state);
      state.name = "";
      this.askForName(state, errorText(error.code, this.limits), rejected);
      return;
    }
    const why = replyErrorText(error, this.limits);
    if (error.code === "invalid_room" || error.code === "bad_request") {
      this.forgetRoom(room);
      this.view.showError(`Cannot join #${room}: ${why}`, error.code);
      return;
    }
    state.status = Status.FAILED;
    this.refreshRoom(state);
    this.view.showError(`Could not join #${room}: ${why}`, error.code, room);
    this.#scheduleRetry(state);
  }

  /** After a reconnect our old connection may still hold the name for a few seconds. */
  #waitForOldName(state) {
    const { first, expired } = this.retries.nameWait(state.room);
    if (first) this.notice(state, "Rejoining: waiting for your previous connection to let go of your name…", "info");
    if (expired) return false;
    state.status = Status.OFFLINE;
    this.refreshRoom(state);
    this.#scheduleRetry(state, NAME_RETRY_MS);
    return true;
  }

  #scheduleRetry(state, delay = null) {
    const run = () => {
      const waiting = state.status === Status.FAILED || state.status === Status.OFFLINE;
      if (this.store.get(state.room) === state && waiting && this.socket?.connected) this.joinRoom(state);
    };
    this.retries.schedule(state.room, run, delay);
  }

  // ---- leaving -------------------------------------------------------------------------

  /** Leaves a room; true once it is gone from the page. */
  async leaveRoom(room) {
    const state = this.store.get(room);
    if (!state) return false;
    if (this.typing.room === room) this.typing.stop();
    const member = state.status === Status.JOINED || state.status === Status.JOINING;
    if (member && this.socket?.connected) {
      const reply = await request(this.socket, "leave", { room });
      const gone = reply.ok || reply.error.code === "not_in_room" || reply.error.offline;
      if (!gone) {
        const why = replyErrorText(reply.error, this.limits);
        this.view.showError(`Could not leave #${room}: ${why}`, reply.error.code, room);
        return false;
      }
    }
    if (this.store.get(room) !== state) return false;
    this.forgetRoom(room);
    return true;
  }
}
