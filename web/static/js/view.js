// The chat page's DOM: room tabs, one message pane per room, members, typing, errors,
// connection state. It knows nothing of sockets; chat.js and rooms.js drive it.

import { byId, h, richText, setFieldError } from "./dom.js";
import { Drawer } from "./drawer.js";
import { formatTime } from "./text.js";

const MAX_ITEMS_PER_PANE = 1000; // older items are dropped so a long session stays light
const BOTTOM_SLACK_PX = 48;
const MAX_COMPOSER_ROWS = 6;

const CONNECTION_LABEL = {
  connected: "Connected",
  connecting: "Connecting…",
  disconnected: "Disconnected, retrying…",
};

export class ChatView {
  constructor({ onSwitch, onLeave }) {
    this.el = {
      title: byId("room-title"),
      rooms: byId("rooms"),
      messages: byId("messages"),
      noRooms: byId("no-rooms"),
      members: byId("members"),
      memberCount: byId("member-count"),
      typing: byId("typing"),
      error: byId("error"),
      errorDismiss: byId("error-dismiss"),
      connection: byId("connection"),
      connectionLabel: byId("connection-label"),
      nameForm: byId("name-form"),
      nameLabel: byId("name-form-label"),
      nameInput: byId("name-input"),
      nameError: byId("name-form-error"),
      text: byId("text"),
      send: byId("send"),
      totalUnread: byId("total-unread"),
    };
    this.drawer = new Drawer();
    this.rooms = new Map(); // room -> {tab, badge, pane, atBottom, scrollTop}
    this.active = null;
    this.errorRoom = null;

    this.el.rooms.addEventListener("click", (event) => {
      const leave = event.target.closest("[data-leave]");
      if (leave) return onLeave(leave.dataset.leave);
      const tab = event.target.closest("[data-switch]");
      if (tab) {
        onSwitch(tab.dataset.switch);
        this.drawer.close({ focusToggle: false });
      }
      return undefined;
    });
    this.el.errorDismiss.addEventListener("click", () => {
      this.clearError();
      this.el.text.focus();
    });
  }

  // ---- rooms -------------------------------------------------------------------------

  ensureRoom(room) {
    if (this.rooms.has(room)) return;
    const badge = h("span", { className: "badge", data: { unread: 0 } });
    const tab = h(
      "li",
      { className: "room-tab", data: { roomTab: room, status: "new" } },
      h(
        "button",
        { className: "room-switch", attrs: { type: "button", "aria-current": "false" }, data: { switch: room } },
        h("span", { className: "room-tab-name", text: `#${room}` }),
        badge,
      ),
      h("button", {
        className: "room-leave",
        text: "×",
        attrs: { type: "button", "aria-label": `Leave #${room}`, title: `Leave #${room}` },
        data: { leave: room },
      }),
    );
    const pane = h("div", {
      className: "pane",
      attrs: { "aria-label": `Messages in #${room}`, tabindex: "0", hidden: true },
      data: { pane: room },
    });
    const entry = { tab, badge, pane, atBottom: true, scrollTop: 0 };
    pane.addEventListener("scroll", () => {
      if (pane.hidden) return;
      entry.scrollTop = pane.scrollTop;
      entry.atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < BOTTOM_SLACK_PX;
    });
    this.rooms.set(room, entry);
    this.el.rooms.append(tab);
    this.el.messages.append(pane);
  }

  removeRoom(room) {
    const entry = this.rooms.get(room);
    if (!entry) return;
    entry.tab.remove();
    entry.pane.remove();
    this.rooms.delete(room);
    if (this.errorRoom === room) this.clearError();
  }

  /** Shows one room's pane (or the empty state when `room` is null). */
  showRoom(room) {
    for (const [name, entry] of this.rooms) {
      const on = name === room;
      entry.pane.hidden = !on;
      entry.tab.querySelector(".room-switch").setAttribute("aria-current", on ? "true" : "false");
      entry.tab.classList.toggle("is-active", on);
      // Only the visible list is a live region, so screen readers announce one room.
      if (on) {
        entry.pane.setAttribute("role", "log");
        entry.pane.setAttribute("aria-live", "polite");
      } else {
        entry.pane.removeAttribute("role");
        entry.pane.removeAttribute("aria-live");
      }
    }
    this.active = room;
    this.el.noRooms.hidden = room !== null;
    this.el.title.textContent = room === null ? "No room" : `#${room}`;
    const entry = this.rooms.get(room);
    if (entry) this.#restoreScroll(entry);
  }

  setRoomStatus(room, status) {
    const entry = this.rooms.get(room);
    if (entry) entry.tab.dataset.status = status;
  }

  setUnread(room, count) {
    const entry = this.rooms.get(room);
    if (!entry) return;
    entry.badge.dataset.unread = String(count);
    entry.badge.replaceChildren(
      count > 0 ? String(count) : "",
      count > 0 ? h("span", { className: "sr-only", text: " unread" }) : "",
    );
  }

  setTotalUnread(count) {
    this.el.totalUnread.dataset.unread = String(count);
    this.el.totalUnread.textContent = count > 0 ? String(count) : "";
    const room = this.active === null ? "No room" : `#${this.active}`;
    document.title = `${count > 0 ? `(${count}) ` : ""}${room} · Chat`;
  }

  // ---- stream ------------------------------------------------------------------------

  /** Appends an accepted message ({message, grouped}) to its room's pane. */
  appendMessage(room, { message, grouped }, ownName) {
    const own = ownName !== "" && message.name.toLowerCase() === ownName.toLowerCase();
    const when = new Date(message.ts);
    const meta = h(
      "div",
      { className: grouped ? "msg-meta sr-only" : "msg-meta" },
      h("span", { className: "msg-name", text: message.name }),
      " ",
      h("time", {
        className: "msg-time",
        text: formatTime(message.ts),
        attrs: { datetime: Number.isNaN(when.getTime()) ? null : when.toISOString() },
      }),
    );
    const item = h(
      "div",
      {
        className: `msg${grouped ? " msg-grouped" : ""}${own ? " msg-own" : ""}`,
        attrs: { title: when.toLocaleString() },
        data: { messageId: message.id, room, sender: message.name },
      },
      meta,
      h("div", { className: "msg-text" }, richText(message.text)),
    );
    this.#append(room, item);
  }

  /** A line in the stream that is not a message: joins, leaves, gaps. */
  appendNotice(room, text, kind, ts = Date.now()) {
    const item = h(
      "div",
      { className: `notice notice-${kind}`, data: { notice: kind } },
      h("span", { text }),
      " ",
      h("time", { className: "msg-time", text: formatTime(ts) }),
    );
    this.#append(room, item);
  }

  #append(room, item) {
    const entry = this.rooms.get(room);
    if (!entry) return;
    const { pane } = entry;
    const visible = !pane.hidden;
    const stick = visible
      ? pane.scrollHeight - pane.scrollTop - pane.clientHeight < BOTTOM_SLACK_PX
      : entry.atBottom;
    pane.append(item);
    while (pane.childElementCount > MAX_ITEMS_PER_PANE) pane.firstElementChild.remove();
    const first = pane.firstElementChild;
    if (first?.classList.contains("msg-grouped")) {
      first.classList.remove("msg-grouped");
      first.querySelector(".msg-meta")?.classList.remove("sr-only");
    }
    entry.atBottom = stick;
    if (visible && stick) pane.scrollTop = pane.scrollHeight;
  }

  #restoreScroll(entry) {
    const { pane } = entry;
    pane.scrollTop = entry.atBottom ? pane.scrollHeight : entry.scrollTop;
  }

  // ---- side panels -------------------------------------------------------------------

  renderMembers(names, ownName) {
    const own = ownName.toLowerCase();
    this.el.members.replaceChildren(
      ...names.map((name) =>
        h("li", {
          className: name.toLowerCase() === own ? "member member-self" : "member",
          text: name,
          data: { member: name },
        }),
      ),
    );
    this.el.memberCount.textContent = names.length > 0 ? `(${names.length})` : "";
  }

  renderTyping(text) {
    if (this.el.typing.textContent !== text) this.el.typing.textContent = text;
  }

  setConnection(state, label = CONNECTION_LABEL[state]) {
    this.el.connection.dataset.connection = state;
    this.el.connectionLabel.textContent = label;
  }

  showError(text, code, room = null) {
    this.el.error.textContent = text;
    this.el.error.dataset.errorCode = code;
    this.el.errorDismiss.hidden = false;
    this.errorRoom = room;
  }

  clearError() {
    this.el.error.textContent = "";
    delete this.el.error.dataset.errorCode;
    this.el.errorDismiss.hidden = true;
    this.errorRoom = null;
  }

  get errorCode() {
    return this.el.error.dataset.errorCode ?? null;
  }

  // ---- forms -------------------------------------------------------------------------

  showNameForm(room, { value = "", error = "", focus = true } = {}) {
    this.el.nameLabel.textContent = `Choose a display name to join #${room}`;
    if (value && !this.el.nameInput.value) this.el.nameInput.value = value;
    setFieldError(this.el.nameInput, this.el.nameError, error);
    this.el.nameForm.hidden = false;
    if (focus) this.el.nameInput.focus();
  }

  hideNameForm() {
    this.el.nameForm.hidden = true;
    setFieldError(this.el.nameInput, this.el.nameError, "");
  }

  get composerText() {
    return this.el.text.value;
  }

  setComposerText(value) {
    this.el.text.value = value;
    this.fitComposer();
  }

  /** Grows the box with its lines (rows, not inline style, which the CSP forbids). */
  fitComposer() {
    const lines = this.el.text.value.split("\n").length;
    this.el.text.rows = Math.min(MAX_COMPOSER_ROWS, Math.max(1, lines));
  }

  /** The box stays focusable but read-only while the room cannot take messages. */
  setComposer(enabled, placeholder) {
    this.el.text.readOnly = !enabled;
    this.el.text.setAttribute("aria-disabled", enabled ? "false" : "true");
    this.el.send.disabled = !enabled;
    this.el.text.placeholder = placeholder;
  }
}
