// Version 3 on the chat page: messages people change (edit, delete, reply, react),
// read positions ("Seen by", unread counts that follow the server) and older history.
// chat.js routes `message_updated` and `read` here; actions.js routes the clicks.

import { lastOwnMessage, seenByLabel, snippet } from "./changes.js";
import { byId } from "./dom.js";
import { sameName } from "./names.js";
import { replyErrorText, request } from "./rpc.js";
import { isMessage } from "./store.js";
import { checkText } from "./text.js";

const READ_EVERY_MS = 1000; // mark_read shares the message rate limit: at most one a second
const OLDER_PAGE = 50;

export class EditController {
  constructor({ store, view, rooms, limits }) {
    this.store = store;
    this.view = view;
    this.rooms = rooms;
    this.limits = limits;
    this.socket = null;
    this.mode = null; // {kind: "reply" | "edit", room, id, epoch}
    this.draft = ""; // what the box held before an edit began
    this.readTimers = new Map(); // room -> timer of the next mark_read
    this.loading = new Set(); // rooms whose older history is being fetched
    this.context = byId("composer-context");
    this.contextText = byId("composer-context-text");
    byId("composer-context-cancel").addEventListener("click", () => {
      this.cancel();
      byId("text").focus();
    });
  }

  ownName(state) {
    return this.rooms.nameFor(state);
  }

  // ---- events from the server ----------------------------------------------------------

  /** `message_updated`: the copy with the highest `v` wins. */
  onUpdated(message) {
    if (!isMessage(message)) return;
    const state = this.store.get(message.room.toLowerCase());
    if (!state) return;
    const newer = state.update(message);
    if (newer) this.showUpdate(state, newer);
  }

  /** A newer state of a shown message, from an event or a join's `updated`. */
  showUpdate(state, message) {
    this.view.pane(state.room)?.updateMessage(message);
    const { mode } = this;
    if (mode?.kind === "edit" && mode.room === state.room && mode.id === message.id && message.deleted) {
      this.cancel();
    }
    this.refreshSeenBy(state);
  }

  /** `read`: a member's read position moved (the user's own, from any of its tabs, too). */
  onRead(payload) {
    if (!payload || typeof payload.room !== "string" || typeof payload.name !== "string") return;
    const state = this.store.get(payload.room.toLowerCase());
    if (!state || !state.setRead(payload.name, payload.last_read, this.ownName(state))) return;
    if (sameName(payload.name, this.ownName(state))) this.followReadPosition(state);
    this.refreshSeenBy(state);
  }

  /** Unread counts of other rooms follow the server's read position (every tab agrees). */
  followReadPosition(state) {
    if (state.room === this.store.active) return;
    state.unread = state.unreadCount(this.ownName(state));
    this.view.setUnread(state.room, state.unread);
    this.view.setTotalUnread(this.store.totalUnread());
  }

  refreshSeenBy(state) {
    const own = this.ownName(state);
    const id = state.ownLatestId(own);
    this.view.pane(state.room)?.setSeenBy(id, id === null ? "" : seenByLabel(state.seenBy(id, own)));
  }

  // ---- read positions ------------------------------------------------------------------

  /** The reader has seen the newest messages of the active room: tell the server, soon. */
  seen() {
    const state = this.store.activeRoom;
    if (!state?.joined || globalThis.document?.hidden) return;
    if (!this.view.pane(state.room)?.atBottom) return;
    if (state.lastId === null || state.lastId <= state.lastRead) return;
    if (this.readTimers.has(state.room)) return;
    this.readTimers.set(
      state.room,
      setTimeout(() => this.#markRead(state), this.readTimers.size === 0 ? 200 : READ_EVERY_MS),
    );
  }

  async #markRead(state) {
    const id = state.lastId;
    const reply = this.socket?.connected ? await request(this.socket, "mark_read", { room: state.room, id }) : null;
    if (reply?.ok) state.setRead(this.ownName(state), reply.last_read, this.ownName(state));
    // Spaced out: the next one waits a second whatever this one answered.
    setTimeout(() => {
      this.readTimers.delete(state.room);
      if (reply?.ok) this.seen();
    }, READ_EVERY_MS);
  }

  // ---- older history -------------------------------------------------------------------

  async loadOlder(state) {
    const pane = this.view.pane(state.room);
    if (!pane || state.historyDone || this.loading.has(state.room) || !this.socket?.connected) return;
    if (state.oldestId === null) return;
    this.loading.add(state.room);
    pane.el.dataset.loadingOlder = "";
    try {
      const reply = await request(this.socket, "history", state.olderPayload(OLDER_PAGE));
      if (!reply.ok || this.store.get(state.room) !== state) return;
      const messages = Array.isArray(reply.messages) ? reply.messages : [];
      const entries = state.prepend(messages, OLDER_PAGE);
      const own = this.ownName(state);
      pane.prependMessages(entries, (m) => sameName(m.name, own), state.historyDone);
      this.refreshSeenBy(state);
    } finally {
      this.loading.delete(state.room);
      delete pane.el.dataset.loadingOlder;
    }
  }

  /** After a join: a pane too short to scroll asks for older messages by itself. */
  fillPane(state) {
    const pane = this.view.pane(state.room);
    if (!pane) return;
    if (state.historyDone) {
      if (!pane.el.querySelector("[data-history-start]")) pane.prependMessages([], () => false, true);
      return;
    }
    if (pane.visible && pane.el.scrollHeight <= pane.el.clientHeight) this.loadOlder(state);
  }

  // ---- the composer's reply and edit modes ----------------------------------------------

  startReply({ room, id }) {
    const state = this.store.get(room);
    const message = state?.message(id);
    if (!message) return;
    if (this.mode?.kind === "edit") this.cancel();
    this.mode = { kind: "reply", room, id, epoch: message.epoch };
    this.#showContext(`Replying to ${message.name}: ${snippet(message)}`);
    byId("text").focus();
  }

  startEdit({ room, id }) {
    const state = this.store.get(room);
    const message = state?.message(id);
    if (!message || message.deleted) return;
    if (this.mode?.kind !== "edit") this.draft = this.view.composerText;
    this.mode = { kind: "edit", room, id, epoch: message.epoch };
    this.#showContext("Editing your message (Escape cancels)");
    this.view.setComposerText(message.text);
    const box = byId("text");
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  /** Up arrow in an empty box: edit the user's latest message in the active room. */
  editLast() {
    const state = this.store.activeRoom;
    if (!state?.joined) return false;
    const shown = [...state.current.values()].filter((m) => m.epoch === (state.epoch ?? m.epoch));
    shown.sort((a, b) => a.id - b.id);
    const last = lastOwnMessage(shown, this.ownName(state));
    if (!last) return false;
    this.startEdit({ room: state.room, id: last.id });
    return true;
  }

  cancel() {
    if (this.mode === null) return;
    const wasEdit = this.mode.kind === "edit";
    this.mode = null;
    this.context.hidden = true;
    this.contextText.textContent = "";
    if (wasEdit) this.view.setComposerText(this.draft);
    this.draft = "";
  }

  /** The reply target for the next message of `room` (then the mode ends), or null. */
  takeReply(room) {
    if (this.mode?.kind !== "reply" || this.mode.room !== room) return null;
    const { id } = this.mode;
    this.cancel();
    return id;
  }

  get editing() {
    return this.mode?.kind === "edit" && this.mode.room === this.store.active;
  }

  /** Sends the edited text; the box comes back with what was being typed before. */
  async submitEdit(raw) {
    const { room, id, epoch } = this.mode;
    const state = this.store.get(room);
    const check = checkText(raw, this.limits.maxText);
    if (check.empty) {
      this.#askDelete(room, id);
      return;
    }
    if (!check.ok) {
      this.view.showError(replyErrorText({ code: check.code }, this.limits), check.code, room);
      return;
    }
    this.cancel();
    const payload = { room, id, text: check.text };
    if (epoch) payload.epoch = epoch;
    const reply = await this.#call("edit_message", payload, "edit");
    if (reply?.ok && state) this.#apply(state, reply.message);
  }

  async react({ room, id, epoch, emoji, on }) {
    const payload = { room, id, emoji, on };
    if (epoch) payload.epoch = epoch;
    const reply = await this.#call("react", payload, "react to");
    const state = this.store.get(room);
    if (reply?.ok && state) this.#apply(state, reply.message);
  }

  async remove({ room, id, epoch }) {
    const payload = { room, id };
    if (epoch) payload.epoch = epoch;
    const reply = await this.#call("delete_message", payload, "delete");
    const state = this.store.get(room);
    if (reply?.ok && state) this.#apply(state, reply.message);
    byId("text").focus();
  }

  jump({ room, id }) {
    const item = this.view.pane(room)?.messageEl(id);
    if (!item) {
      this.view.showError("That message is no longer shown here.", "not_found", room);
      return;
    }
    item.scrollIntoView({ block: "center" });
    item.classList.add("is-highlighted");
    setTimeout(() => item.classList.remove("is-highlighted"), 2000);
    item.querySelector(".msg-actions-bar button, .msg-more")?.focus({ preventScroll: true });
  }

  #apply(state, message) {
    if (!isMessage(message)) return;
    const newer = state.update(message);
    if (newer) this.showUpdate(state, newer);
  }

  #askDelete(room, id) {
    this.cancel();
    this.view.pane(room)?.messageEl(id)?.querySelector('[data-action="delete"]')?.click();
  }

  async #call(event, payload, verb) {
    if (!this.socket?.connected) {
      this.view.showError(`Could not ${verb} that message: you are offline.`, "unavailable", payload.room);
      return null;
    }
    const reply = await request(this.socket, event, payload);
    if (!reply.ok) {
      const why = replyErrorText(reply.error, this.limits);
      this.view.showError(`Could not ${verb} that message: ${why}`, reply.error.code, payload.room);
    }
    return reply;
  }

  #showContext(text) {
    this.contextText.textContent = text;
    this.context.hidden = false;
  }
}
