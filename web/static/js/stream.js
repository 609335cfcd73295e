// One room's message pane: delivered messages in order (each built by message.js and
// re-rendered when a newer version arrives), older pages above them, day separators,
// notices, the unread divider, "Seen by", and at the bottom the messages still in the
// outbox. It also counts messages that arrived while the reader was scrolled up (the
// "new messages" marker).

import { h, richText } from "./dom.js";
import { dayLabel, formatClock, startsDay } from "./dates.js";
import { buildMessage, renderMessage } from "./message.js";
import { pendingText } from "./outbox.js";

const MAX_ITEMS = 1000; // older items are dropped so a long session stays light
const BOTTOM_SLACK_PX = 48;
const TOP_SLACK_PX = 80; // this close to the top, older history is asked for

function timeEl(ts) {
  const when = new Date(ts);
  const valid = !Number.isNaN(when.getTime());
  return h("time", {
    className: "msg-time",
    text: valid ? formatClock(ts) : "",
    attrs: { datetime: valid ? when.toISOString() : null },
  });
}

export class Pane {
  constructor(room, { failedText }) {
    this.room = room;
    this.failedText = failedText; // (code) => sentence for a refused message
    this.el = h("div", {
      className: "pane",
      attrs: { "aria-label": `Messages in #${room}`, tabindex: "0", hidden: true },
      data: { pane: room },
    });
    this.atBottom = true;
    this.scrollTop = 0;
    this.unseen = 0; // messages appended while scrolled up
    this.lastTs = null; // time of the last delivered item, for day separators
    this.onUnseen = () => {};
    this.onTop = () => {}; // scrolled to the top: load older history
    this.onBottom = () => {}; // the newest messages are in view: they count as read
    // What messages need to know of the reader (view.js sets it), read at each render.
    this.context = () => ({ ownName: "", names: [], moderator: false, lookup: () => null });
    this.el.addEventListener("scroll", () => {
      if (this.el.hidden) return;
      this.scrollTop = this.el.scrollTop;
      this.atBottom = this.#nearBottom();
      if (this.atBottom && this.unseen > 0) this.#setUnseen(0);
      if (this.atBottom) this.onBottom(this);
      if (this.el.scrollTop < TOP_SLACK_PX) this.onTop(this);
    });
  }

  get ctx() {
    return this.context();
  }

  get visible() {
    return !this.el.hidden;
  }

  // ---- delivered items ---------------------------------------------------------------

  /** A delivered message ({message, grouped}); `own` marks the reader's. */
  appendMessage({ message, grouped }, own) {
    const continued = grouped && !startsDay(this.lastTs, message.ts);
    const item = buildMessage(message, { own, continued, ctx: this.ctx });
    this.#insert(item, message.ts, !own);
  }

  /** A newer version of a shown message (edit, deletion, reactions): re-rendered in place. */
  updateMessage(message) {
    const item = this.messageEl(message.id, message.epoch);
    if (!item) return false;
    const stick = this.visible && this.#nearBottom();
    renderMessage(item, message, this.ctx);
    for (const reply of this.el.querySelectorAll(`[data-reply-to="${message.id}"]`)) {
      const shown = this.ctx.lookup(Number(reply.dataset.messageId));
      if (shown) renderMessage(reply, shown, this.ctx);
    }
    if (stick) this.scrollToBottom();
    return true;
  }

  /** The element of a delivered message, or null. */
  messageEl(id, epoch = undefined) {
    for (const item of this.el.querySelectorAll(`[data-message-id="${Number(id)}"]`)) {
      if (epoch === undefined || (item.dataset.epoch ?? undefined) === (epoch ?? undefined)) return item;
    }
    return null;
  }

  /**
   * Older messages above the ones shown, keeping what the reader looks at in place.
   * `done` adds the line that says the kept history ends here.
   */
  prependMessages(entries, ownOf, done) {
    const before = this.el.scrollHeight - this.el.scrollTop;
    const fragment = document.createDocumentFragment();
    let lastTs = null;
    for (const { message, grouped } of entries) {
      const newDay = startsDay(lastTs, message.ts);
      if (newDay) fragment.append(this.#daySeparator(message.ts));
      lastTs = message.ts;
      const own = ownOf(message);
      fragment.append(buildMessage(message, { own, continued: grouped && !newDay, ctx: this.ctx }));
    }
    // The day the shown messages started with may continue from the ones above.
    const first = this.el.firstElementChild;
    const sameDay = lastTs !== null && !startsDay(lastTs, Number(first?.dataset.dayTs));
    if (first?.classList.contains("day-separator") && sameDay) first.remove();
    if (done) {
      const start = h("span", { text: "This is the start of the kept history." });
      fragment.prepend(h("div", { className: "notice notice-start", data: { historyStart: "" } }, start));
    }
    this.el.prepend(fragment);
    if (this.visible) {
      this.el.scrollTop = this.el.scrollHeight - before;
      this.scrollTop = this.el.scrollTop;
    }
  }

  /** Shows "Seen by …" under one message (the reader's latest), or nowhere. */
  setSeenBy(id, label) {
    for (const old of this.el.querySelectorAll(".seen-by")) old.remove();
    if (!label || id === null) return;
    const body = this.messageEl(id)?.querySelector(".msg-body");
    body?.append(h("p", { className: "seen-by", text: label, data: { seenBy: "" } }));
  }

  /** Re-renders every message (the reader's name or role changed). */
  rerender() {
    for (const item of this.el.querySelectorAll("[data-message-id]")) {
      const message = this.ctx.lookup(Number(item.dataset.messageId));
      if (message) renderMessage(item, message, this.ctx);
    }
  }

  /** Marks a shown message as the one sent under `message.client_id`. */
  tagClientId(message) {
    if (typeof message.client_id !== "string") return;
    const epoch = typeof message.epoch === "string" ? message.epoch : null;
    for (const item of this.el.querySelectorAll(`[data-message-id="${message.id}"]`)) {
      if ((item.dataset.epoch ?? null) === epoch) item.dataset.clientId = message.client_id;
    }
  }

  /** A line that is not a message: joins, leaves, gaps, resets. */
  appendNotice(text, kind, ts = Date.now()) {
    const item = h(
      "div",
      { className: `notice notice-${kind}`, data: { notice: kind } },
      h("span", { text }),
      " ",
      timeEl(ts),
    );
    this.#insert(item, ts, false);
  }

  /** The room's history started again: what was shown belongs to a past generation. */
  clearDelivered() {
    for (const item of [...this.el.children]) {
      if (!item.hasAttribute("data-pending")) item.remove();
    }
    this.lastTs = null;
  }

  /** Puts "New messages" above the last `count` messages from others. */
  markUnread(count) {
    this.el.querySelector(".unread-divider")?.remove();
    if (count <= 0) return;
    const others = this.el.querySelectorAll("[data-message-id]:not(.msg-own)");
    const first = others[Math.max(0, others.length - count)];
    if (!first) return;
    const divider = h(
      "div",
      { className: "unread-divider", attrs: { role: "separator" }, data: { unreadDivider: count } },
      h("span", { text: "New messages" }),
    );
    first.before(divider);
    if (first.classList.contains("msg-grouped")) this.#ungroup(first);
    divider.scrollIntoView({ block: "center" });
    this.atBottom = this.#nearBottom();
  }

  /** Day separators say "Today" and "Yesterday": say them again after midnight. */
  relabelDays(now = Date.now()) {
    for (const sep of this.el.querySelectorAll("[data-day-ts]")) {
      const label = dayLabel(Number(sep.dataset.dayTs), now);
      const span = sep.firstElementChild;
      if (span.textContent !== label) span.textContent = label;
    }
  }

  // ---- the outbox --------------------------------------------------------------------

  /** Shows or updates an outbox entry at the bottom of the pane. */
  showPending(entry, own = "") {
    let item = this.#pendingItem(entry.clientId);
    if (!item) {
      item = h("div", {
        className: "msg msg-own msg-pending",
        attrs: { "data-pending": true },
        data: { clientId: entry.clientId, room: this.room },
      });
      const stick = this.visible ? this.#nearBottom() : this.atBottom;
      this.el.append(item);
      if (stick) this.scrollToBottom();
    }
    item.dataset.delivery = entry.state;
    const failed = entry.state === "failed";
    const status = failed ? this.failedText(entry.error) : pendingText(entry);
    const parts = [
      h(
        "div",
        { className: "msg-meta" },
        h("span", { className: "msg-name", text: own }),
        " ",
        h("span", { className: failed ? "msg-status msg-failed" : "msg-status", text: status }),
      ),
      h("div", { className: "msg-text" }, richText(entry.text)),
      failed
        ? h(
            "div",
            { className: "msg-actions" },
            h("button", {
              className: "button button-small",
              text: "Retry",
              attrs: { type: "button", "aria-label": "Retry sending this message" },
              data: { retry: entry.clientId },
            }),
            h("button", {
              className: "button button-small button-quiet",
              text: "Delete",
              attrs: { type: "button", "aria-label": "Delete this unsent message" },
              data: { discard: entry.clientId },
            }),
          )
        : null,
    ];
    item.replaceChildren(...parts.filter((part) => part !== null));
  }

  removePending(clientId) {
    this.#pendingItem(clientId)?.remove();
  }

  // ---- scrolling ---------------------------------------------------------------------

  scrollToBottom() {
    this.el.scrollTop = this.el.scrollHeight;
    this.atBottom = true;
    if (this.unseen > 0) this.#setUnseen(0);
  }

  restoreScroll() {
    if (this.atBottom) this.scrollToBottom();
    else this.el.scrollTop = this.scrollTop;
  }

  #daySeparator(ts) {
    return h(
      "div",
      { className: "day-separator", attrs: { role: "separator" }, data: { dayTs: ts } },
      h("span", { text: dayLabel(ts, Date.now()) }),
    );
  }

  #pendingItem(clientId) {
    return this.el.querySelector(`[data-pending][data-client-id="${CSS.escape(clientId)}"]`);
  }

  #nearBottom() {
    const { el } = this;
    return el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK_PX;
  }

  #setUnseen(count) {
    this.unseen = count;
    this.onUnseen(this);
  }

  #ungroup(item) {
    item.classList.remove("msg-grouped");
    item.querySelector(".msg-meta")?.classList.remove("sr-only");
  }

  // Delivered items go above the outbox, which always stays at the bottom.
  #insert(item, ts, countUnseen) {
    const stick = this.visible ? this.#nearBottom() : this.atBottom;
    const firstPending = this.el.querySelector("[data-pending]");
    if (startsDay(this.lastTs, ts)) this.el.insertBefore(this.#daySeparator(ts), firstPending);
    this.lastTs = ts;
    this.el.insertBefore(item, firstPending);
    while (this.el.childElementCount > MAX_ITEMS) this.el.firstElementChild.remove();
    const first = this.el.firstElementChild;
    if (first?.classList.contains("msg-grouped")) this.#ungroup(first);
    if (stick) {
      if (this.visible) this.scrollToBottom();
      this.atBottom = true;
    } else if (countUnseen) {
      this.#setUnseen(this.unseen + 1);
    }
  }
}
