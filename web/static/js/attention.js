// What asks for the reader's attention on the chat page: unread counts (the rooms not
// in view, and the room in view while the page is hidden), mentions of the reader
// counted beside their room, and the alerts the reader asked for (alerts.js). No
// sockets: rooms.js tells it what was shown.

import { mentions, sameName } from "./names.js";

export class Attention {
  constructor({ store, view }) {
    this.store = store;
    this.view = view;
    this.alerts = null; // alerts.js, set by features.js
    this.onShown = () => {}; // new messages are on screen (edits.js marks them read)
    this.awayUnread = 0; // messages shown in the active room while the page was hidden
  }

  /** Live messages were shown in `state`'s pane; `ownName` is the reader's name there. */
  shown(state, entries, ownName) {
    this.#mentionsAndAlerts(state, entries, ownName);
    if (state.room === this.store.active && globalThis.document?.hidden) {
      // Shown, but not seen: the reader is in another tab or window.
      this.awayUnread += entries.length;
      this.view.setTotalUnread(this.store.totalUnread() + this.awayUnread);
    }
    if (this.store.addUnread(state.room, entries.length) > 0) {
      this.view.setUnread(state.room, state.unread);
      this.view.setTotalUnread(this.store.totalUnread());
    }
  }

  /** Another room is shown: what was unseen in the last one no longer counts. */
  switched() {
    this.awayUnread = 0;
  }

  /** The page is seen again: mark where the messages that came meanwhile begin. */
  pageShown() {
    if (this.awayUnread === 0 || this.store.active === null) return;
    this.view.markUnread(this.store.active, this.awayUnread);
    this.awayUnread = 0;
    this.view.setTotalUnread(this.store.totalUnread());
  }

  /** A first join: unread counts and the divider start from the server's read position. */
  fromReadPosition(state, ownName) {
    const count = state.unreadCount(ownName);
    if (state.room === this.store.active) {
      if (count > 0) this.view.markUnread(state.room, count);
      return;
    }
    state.unread = count;
    this.view.setUnread(state.room, count);
    this.view.setTotalUnread(this.store.totalUnread());
  }

  #mentionsAndAlerts(state, entries, ownName) {
    const fromOthers = entries.map((e) => e.message).filter((m) => !sameName(m.name, ownName) && !m.deleted);
    const unseen = state.room !== this.store.active || globalThis.document?.hidden;
    for (const message of fromOthers) {
      const mentioned = mentions(message.text, ownName);
      if (mentioned && state.room !== this.store.active) {
        state.mentionCount = (state.mentionCount ?? 0) + 1;
        this.view.setMentions(state.room, state.mentionCount);
      }
      if (unseen) this.alerts?.message(message, mentioned);
    }
    this.onShown();
  }
}
