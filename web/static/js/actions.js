// The controls inside message elements: the hover / focus / long-press toolbar (reply,
// react, edit, delete), the emoji picker, the delete confirmation, reaction buttons,
// "Show more" and the reply quote that jumps to the original. Events are delegated
// from the message list; what an action does is up to the callbacks (edits.js).

import { COMMON_EMOJI } from "./changes.js";
import { h } from "./dom.js";

const LONG_PRESS_MS = 500;

function target(event) {
  const item = event.target.closest?.("[data-message-id]");
  if (!item) return null;
  return { item, room: item.dataset.room, id: Number(item.dataset.messageId), epoch: item.dataset.epoch };
}

/** Wires `list` (#messages); `on` = {reply, react, edit, remove, jump}({room, id, epoch, ...}). */
export function wireMessageActions(list, on) {
  list.addEventListener("click", (event) => {
    const more = event.target.closest("[data-more]");
    if (more) return toggleMore(more);
    const where = target(event);
    if (!where) return undefined;
    const jump = event.target.closest("[data-jump]");
    if (jump) return on.jump({ ...where, id: Number(jump.dataset.jump) });
    const reaction = event.target.closest("[data-reaction]");
    if (reaction) {
      const mine = reaction.getAttribute("aria-pressed") === "true";
      return on.react({ ...where, emoji: reaction.dataset.reaction, on: !mine });
    }
    const emoji = event.target.closest("[data-emoji]");
    if (emoji) {
      closePopups(where.item);
      const mine = where.item.querySelector(`[data-reaction="${CSS.escape(emoji.dataset.emoji)}"][aria-pressed="true"]`);
      return on.react({ ...where, emoji: emoji.dataset.emoji, on: !mine });
    }
    const button = event.target.closest("[data-action]");
    if (!button) return undefined;
    switch (button.dataset.action) {
      case "reply":
        return on.reply(where);
      case "edit":
        return on.edit(where);
      case "react":
        return openPicker(where.item, button);
      case "delete":
        return askConfirm(where.item, button);
      case "confirm":
        closePopups(where.item);
        return on.remove(where);
      case "cancel":
        return closePopups(where.item, true);
      default:
        return undefined;
    }
  });
  list.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const item = event.target.closest?.("[data-message-id]");
    if (item?.querySelector(".msg-popup")) {
      event.stopPropagation();
      closePopups(item, true);
    }
  });
  // A long press (touch) shows a message's actions, as a hover does with a mouse.
  let timer = null;
  list.addEventListener("pointerdown", (event) => {
    if (event.pointerType !== "touch") return;
    const item = event.target.closest("[data-message-id]");
    if (!item) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      for (const other of list.querySelectorAll(".msg.is-selected")) other.classList.remove("is-selected");
      item.classList.add("is-selected");
    }, LONG_PRESS_MS);
  });
  for (const name of ["pointerup", "pointercancel", "pointermove"]) {
    list.addEventListener(name, () => clearTimeout(timer));
  }
}

function toggleMore(button) {
  const text = button.parentElement.querySelector(".msg-text");
  const expanded = text.classList.toggle("is-collapsed") === false;
  button.setAttribute("aria-expanded", String(expanded));
  button.textContent = expanded ? "Show less" : "Show more";
}

function closePopups(item, refocus = false) {
  for (const popup of item.querySelectorAll(".msg-popup")) popup.remove();
  item.classList.remove("is-selected");
  if (refocus) item.querySelector(".msg-actions-bar [data-action]")?.focus();
}

function popup(item, label, ...children) {
  closePopups(item);
  const el = h("div", { className: "msg-popup", attrs: { role: "group", "aria-label": label } }, ...children);
  item.querySelector(".msg-body").append(el);
  item.classList.add("is-selected");
  return el;
}

function openPicker(item) {
  const el = popup(
    item,
    "Pick a reaction",
    ...COMMON_EMOJI.map((emoji) =>
      h("button", {
        className: "emoji-choice",
        text: emoji,
        attrs: { type: "button", "aria-label": `React with ${emoji}` },
        data: { emoji },
      }),
    ),
    h("button", { className: "button button-small button-quiet", text: "Cancel", attrs: { type: "button" }, data: { action: "cancel" } }),
  );
  el.querySelector("button").focus();
}

function askConfirm(item) {
  const el = popup(
    item,
    "Delete this message?",
    h("span", { className: "msg-popup-label", text: "Delete this message for everyone?" }),
    h("button", { className: "button button-small button-danger", text: "Delete", attrs: { type: "button" }, data: { action: "confirm" } }),
    h("button", { className: "button button-small button-quiet", text: "Cancel", attrs: { type: "button" }, data: { action: "cancel" } }),
  );
  el.querySelector('[data-action="confirm"]').focus();
}
