// "Browse rooms" in the chat page's sidebar: the active rooms with their member counts
// (list_rooms) and, with identity on, the rooms the token allows; each joins in place.

import { byId, h } from "./dom.js";
import { request } from "./rpc.js";

const REFRESH_MS = 15_000;

/** Rooms to offer: active ones first (most members), then allowed ones nobody is in. */
export function browsableRooms(active, allowed = null, joined = []) {
  const rows = active
    .filter((r) => r && typeof r.room === "string" && Number.isInteger(r.members))
    .map((r) => ({ room: r.room, members: r.members }));
  const listed = new Set(rows.map((r) => r.room));
  for (const room of allowed ?? []) {
    const lower = room.toLowerCase();
    if (!listed.has(lower) && /^[a-z0-9_-]{1,32}$/u.test(lower)) {
      listed.add(lower);
      rows.push({ room: lower, members: 0 });
    }
  }
  const mine = new Set(joined);
  return rows.map((r) => ({ ...r, joined: mine.has(r.room) }));
}

export class RoomBrowser {
  constructor({ store, socket, allowed, onJoin }) {
    this.store = store;
    this.socket = socket; // () => the connected socket or null
    this.allowed = allowed; // () => the token's rooms, or null
    this.onJoin = onJoin;
    this.el = byId("room-browser");
    this.list = byId("room-browser-list");
    this.status = byId("room-browser-status");
    this.timer = null;
    this.el.addEventListener("toggle", () => (this.el.open ? this.refresh() : this.#stop()));
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-browse-join]");
      if (button) this.onJoin(button.dataset.browseJoin);
    });
  }

  /** Opens the list (a forbidden room points here) and focuses it. */
  show() {
    this.el.open = true;
    this.el.querySelector("summary").focus();
  }

  async refresh() {
    clearTimeout(this.timer);
    const socket = this.socket();
    if (!socket) {
      this.status.textContent = "Offline: the list comes back with the connection.";
    } else {
      this.status.textContent = this.list.childElementCount ? "" : "Loading rooms…";
      const reply = await request(socket, "list_rooms", {});
      if (reply.ok) this.#render(browsableRooms(reply.rooms ?? [], this.allowed(), [...this.store.rooms.keys()]));
      else this.status.textContent = "The room list could not be loaded; retrying.";
    }
    if (this.el.open) this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  #render(rows) {
    this.status.textContent = rows.length === 0 ? "No active rooms right now." : "";
    this.list.replaceChildren(
      ...rows.map(({ room, members, joined }) =>
        h(
          "li",
          { className: "browse-room", data: { browseRoom: room } },
          h("span", { className: "browse-room-name", text: `#${room}` }),
          h("span", { className: "muted small", text: members === 1 ? "1 member" : `${members} members` }),
          h("button", {
            className: "button button-small",
            text: joined ? "Open" : "Join",
            attrs: { type: "button", "aria-label": `${joined ? "Open" : "Join"} #${room}` },
            data: { browseJoin: room },
          }),
        ),
      ),
    );
  }

  #stop() {
    clearTimeout(this.timer);
  }
}
