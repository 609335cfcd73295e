// Every room of the chat page (store.js's RoomState each), which one is shown, and the
// unread counts of the others. No DOM and no I/O.

import { RoomState } from "./store.js";

/** Every room of the page, in the order they were added (the sidebar's order). */
export class ChatStore {
  constructor() {
    this.rooms = new Map();
    this.active = null;
    this.defaultName = "";
  }

  get(room) {
    return this.rooms.get(room) ?? null;
  }

  add(room) {
    let state = this.rooms.get(room);
    if (!state) {
      state = new RoomState(room);
      this.rooms.set(room, state);
    }
    return state;
  }

  get activeRoom() {
    return this.active === null ? null : this.get(this.active);
  }

  setActive(room) {
    const state = this.get(room);
    if (!state) return null;
    this.active = room;
    state.unread = 0;
    return state;
  }

  /**
   * Forgets a room. Returns the room to show next when it was the active one (the
   * neighbour that took its place in the list), else the unchanged active room.
   */
  remove(room) {
    const order = [...this.rooms.keys()];
    const index = order.indexOf(room);
    this.rooms.delete(room);
    if (this.active !== room) return this.active;
    const rest = order.filter((r) => r !== room);
    this.active = rest.length === 0 ? null : rest[Math.min(index, rest.length - 1)];
    if (this.active !== null) this.get(this.active).unread = 0;
    return this.active;
  }

  /** Counts messages shown in a room the user is not looking at. */
  addUnread(room, count) {
    const state = this.get(room);
    if (!state || room === this.active || count <= 0) return 0;
    state.unread += count;
    return state.unread;
  }

  totalUnread() {
    let total = 0;
    for (const state of this.rooms.values()) total += state.unread;
    return total;
  }
}
