// The chat page's DOM: room tabs (unread and mention badges), one message pane per room
// (stream.js), members with avatars (and moderation for moderators), typing, errors
// with a way out, connection state, the composer. It knows nothing of sockets; chat.js
// and rooms.js drive it.

import { byId, externalLink, h, setFieldError } from "./dom.js";
import { Drawer } from "./drawer.js";
import { avatar } from "./message.js";
import { sameName } from "./names.js";
import { Pane } from "./stream.js";

const MAX_COMPOSER_ROWS = 8;

export class ChatView {
  constructor({ onSwitch, onLeave, onRetry, onDiscard, failedText, context, onOlder, onSeen, onModerate }) {
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
      counter: byId("text-counter"),
      jump: byId("jump"),
      totalUnread: byId("total-unread"),
      errorLink: byId("error-link"),
      errorAction: byId("error-action"),
    };
    this.context = context; // (room) => what a message needs to know of the reader
    this.onOlder = onOlder; // (room) => load older history
    this.onSeen = onSeen; // () => the newest messages of the active room are in view
    this.errorRun = null;
    this.el.errorAction.addEventListener("click", () => {
      const run = this.errorRun;
      this.clearError();
      run?.();
    });
    this.el.members.addEventListener("click", (event) => {
      const button = event.target.closest("[data-moderate]");
      if (button) onModerate(button.dataset.moderate);
    });
    this.failedText = failedText;
    this.drawer = new Drawer();
    this.rooms = new Map(); // room -> {tab, badge, pane: Pane}
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
    this.el.messages.addEventListener("click", (event) => {
      const retry = event.target.closest("[data-retry]");
      if (retry) return onRetry(retry.dataset.retry);
      const discard = event.target.closest("[data-discard]");
      if (discard) return onDiscard(discard.dataset.discard);
      return undefined;
    });
    // Narrower means taller content: a reader at the end of a room stays at its end.
    globalThis.addEventListener?.("resize", () => {
      const pane = this.pane(this.active);
      if (pane?.atBottom) pane.scrollToBottom();
    });
    this.el.jump.addEventListener("click", () => {
      this.rooms.get(this.active)?.pane.scrollToBottom();
      this.el.text.focus();
    });
  }

  // ---- rooms -------------------------------------------------------------------------

  ensureRoom(room) {
    if (this.rooms.has(room)) return;
    const badge = h("span", { className: "badge", data: { unread: 0 } });
    const mentionBadge = h("span", { className: "badge badge-mention", data: { mentions: 0 } });
    const tab = h(
      "li",
      { className: "room-tab", data: { roomTab: room, status: "new" } },
      h(
        "button",
        { className: "room-switch", attrs: { type: "button", "aria-current": "false" }, data: { switch: room } },
        h("span", { className: "room-tab-name", text: `#${room}` }),
        mentionBadge,
        badge,
      ),
      h("button", {
        className: "room-leave",
        text: "×",
        attrs: { type: "button", "aria-label": `Leave #${room}`, title: `Leave #${room}` },
        data: { leave: room },
      }),
    );
    const pane = new Pane(room, { failedText: this.failedText });
    pane.onUnseen = () => this.#updateJump();
    pane.context = () => this.context(room);
    pane.onTop = () => this.onOlder(room);
    pane.onBottom = () => this.onSeen();
    const entry = { tab, badge, mentionBadge, pane };
    this.rooms.set(room, entry);
    this.el.rooms.append(tab);
    this.el.messages.append(pane.el);
  }

  removeRoom(room) {
    const entry = this.rooms.get(room);
    if (!entry) return;
    entry.tab.remove();
    entry.pane.el.remove();
    this.rooms.delete(room);
    if (this.errorRoom === room) this.clearError();
  }

  /** Shows one room's pane (or the empty state when `room` is null). */
  showRoom(room) {
    for (const [name, entry] of this.rooms) {
      const on = name === room;
      const pane = entry.pane.el;
      pane.hidden = !on;
      entry.tab.querySelector(".room-switch").setAttribute("aria-current", on ? "true" : "false");
      entry.tab.classList.toggle("is-active", on);
      // Only the visible list is a live region, so screen readers announce one room.
      if (on) {
        pane.setAttribute("role", "log");
        pane.setAttribute("aria-live", "polite");
      } else {
        pane.removeAttribute("role");
        pane.removeAttribute("aria-live");
      }
    }
    this.active = room;
    this.el.noRooms.hidden = room !== null;
    this.el.title.textContent = room === null ? "No room" : `#${room}`;
    this.rooms.get(room)?.pane.restoreScroll();
    this.#updateJump();
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

  /** "@2" beside a room: messages that mention the reader, not seen yet. */
  setMentions(room, count) {
    const entry = this.rooms.get(room);
    if (!entry) return;
    entry.mentionBadge.dataset.mentions = String(count);
    entry.mentionBadge.replaceChildren(
      count > 0 ? `@${count}` : "",
      count > 0 ? h("span", { className: "sr-only", text: count === 1 ? " mention" : " mentions" }) : "",
    );
  }

  setTotalUnread(count) {
    this.el.totalUnread.dataset.unread = String(count);
    this.el.totalUnread.textContent = count > 0 ? String(count) : "";
    const room = this.active === null ? "No room" : `#${this.active}`;
    document.title = `${count > 0 ? `(${count}) ` : ""}${room} · Chat`;
  }

  // ---- stream ------------------------------------------------------------------------

  pane(room) {
    return this.rooms.get(room)?.pane ?? null;
  }

  /** Appends an accepted message ({message, grouped}) to its room's pane. */
  appendMessage(room, entry, ownName) {
    const own = ownName !== "" && sameName(entry.message.name, ownName);
    this.pane(room)?.appendMessage(entry, own);
  }

  /** A line in the stream that is not a message: joins, leaves, gaps. */
  appendNotice(room, text, kind, ts = Date.now()) {
    this.pane(room)?.appendNotice(text, kind, ts);
  }

  showPending(room, entry, ownName) {
    this.pane(room)?.showPending(entry, ownName);
  }

  removePending(room, clientId) {
    this.pane(room)?.removePending(clientId);
  }

  /** The room's history was reset: its old messages go. */
  clearMessages(room) {
    this.pane(room)?.clearDelivered();
  }

  markUnread(room, count) {
    this.pane(room)?.markUnread(count);
  }

  relabelDays() {
    for (const { pane } of this.rooms.values()) pane.relabelDays();
  }

  /** The "N new messages" button shows while the visible pane has unseen messages below. */
  #updateJump() {
    const pane = this.pane(this.active);
    const count = pane && pane.visible ? pane.unseen : 0;
    this.el.jump.hidden = count === 0;
    this.el.jump.dataset.count = String(count);
    this.el.jump.textContent = count === 1 ? "1 new message ↓" : `${count} new messages ↓`;
  }

  // ---- side panels -------------------------------------------------------------------

  renderMembers(names, ownName, moderator = false) {
    this.el.members.replaceChildren(
      ...names.map((name) => {
        const self = sameName(name, ownName);
        return h(
          "li",
          { className: self ? "member member-self" : "member", data: { member: name } },
          avatar(name, "avatar avatar-small"),
          h("span", { className: "member-name", text: name }),
          moderator && !self
            ? h("button", {
                className: "button button-small button-quiet member-moderate",
                text: "Moderate",
                attrs: { type: "button", "aria-label": `Moderate ${name}`, "aria-haspopup": "dialog" },
                data: { moderate: name },
              })
            : null,
        );
      }),
    );
    this.el.memberCount.textContent = names.length > 0 ? `(${names.length})` : "";
  }

  renderTyping(text) {
    if (this.el.typing.textContent !== text) this.el.typing.textContent = text;
  }

  /** `{state, label, slow}` from status.js; the state is the data-connection hook. */
  setConnection({ state, label, slow = false }) {
    const el = this.el.connection;
    if (el.dataset.connection !== state) el.dataset.connection = state;
    if (el.dataset.slow !== String(slow)) el.dataset.slow = String(slow);
    if (this.el.connectionLabel.textContent !== label) this.el.connectionLabel.textContent = label;
  }

  /**
   * An error line; `link` ({text, href}) points where to go next, `action` ({text, run})
   * offers the way out on this page.
   */
  showError(text, code, room = null, { link = null, action = null } = {}) {
    this.el.error.textContent = text;
    this.el.error.dataset.errorCode = code;
    this.el.errorDismiss.hidden = false;
    this.errorRoom = room;
    const a = link ? externalLink(link.text, link.href) : null;
    this.el.errorLink.hidden = !(a instanceof HTMLAnchorElement);
    if (a instanceof HTMLAnchorElement) {
      this.el.errorLink.textContent = link.text;
      this.el.errorLink.href = a.href;
      this.el.errorLink.removeAttribute("target"); // back to the application, in this tab
    }
    this.errorRun = action?.run ?? null;
    this.el.errorAction.hidden = action === null;
    this.el.errorAction.textContent = action?.text ?? "";
  }

  clearError() {
    this.el.errorLink.hidden = true;
    this.el.errorAction.hidden = true;
    this.errorRun = null;
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

  /**
   * Grows the box with its lines, wrapped ones included: measured at one row, the
   * scroll height says how many rows the text needs (rows, not inline style, which the
   * CSP forbids).
   */
  fitComposer() {
    const box = this.el.text;
    const style = getComputedStyle(box);
    const line = Number.parseFloat(style.lineHeight) || 20;
    const padding = Number.parseFloat(style.paddingTop) + Number.parseFloat(style.paddingBottom);
    box.rows = 1;
    const needed = Math.round((box.scrollHeight - padding) / line);
    box.rows = Math.min(MAX_COMPOSER_ROWS, Math.max(1, needed));
  }

  /** `{show, over, label}` from textCounter(). */
  setCounter({ show, over, label }) {
    const el = this.el.counter;
    el.hidden = !show;
    el.classList.toggle("is-over", over);
    if (el.textContent !== label) el.textContent = label;
  }

  /**
   * The box is editable whenever a room is chosen, even offline: what is typed waits in
   * the outbox. It is read-only only without a room or a name to send under.
   */
  setComposer(enabled, placeholder) {
    this.el.text.readOnly = !enabled;
    this.el.text.setAttribute("aria-disabled", enabled ? "false" : "true");
    this.el.send.disabled = !enabled;
    this.el.text.placeholder = placeholder;
  }
}
