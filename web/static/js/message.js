// One message's element: avatar, name and time, reply quote, formatted text (or the
// tombstone), "Show more" for long ones, reactions, and the actions that appear on hover,
// keyboard focus or a long press. Built from text nodes only (dom.js); `render` is run
// again whenever a newer version of the message arrives.

import { allowedActions, isLong, reactionSummary, snippet, whoReacted } from "./changes.js";
import { formatClock, formatFull } from "./dates.js";
import { formattedText, h } from "./dom.js";
import { avatarHue, initials, mentions } from "./names.js";

function timeEl(ts) {
  const when = new Date(ts);
  const valid = !Number.isNaN(when.getTime());
  return h("time", {
    className: "msg-time",
    text: valid ? formatClock(ts) : "",
    attrs: { datetime: valid ? when.toISOString() : null },
  });
}

/** A round avatar: initials on a colour from the name's exact code points. */
export function avatar(name, className = "avatar") {
  const el = h("span", { className, text: initials(name), attrs: { "aria-hidden": "true" } });
  // A custom property through the CSSOM: the CSP forbids style attributes, not this.
  el.style.setProperty("--avatar-hue", String(avatarHue(name)));
  return el;
}

function actionButton(action, label, text) {
  return h("button", {
    className: `msg-action msg-action-${action}`,
    text,
    attrs: { type: "button", "aria-label": label, title: label },
    data: { action },
  });
}

/**
 * `ctx`: `{ownName, names, moderator, lookup(id)}`: the reader's name in the room, the
 * names a mention may name, whether the reader moderates, and the shown message by id.
 */
export function buildMessage(message, { own, continued, ctx }) {
  const item = h("div", {
    className: `msg${continued ? " msg-grouped" : ""}${own ? " msg-own" : ""}`,
    attrs: { title: formatFull(message.ts) },
    data: { room: message.room, sender: message.name },
  });
  item.dataset.messageId = String(message.id);
  if (typeof message.client_id === "string") item.dataset.clientId = message.client_id;
  if (typeof message.epoch === "string") item.dataset.epoch = message.epoch;
  renderMessage(item, message, ctx);
  return item;
}

/** (Re)fills a message element from the message's current state. */
export function renderMessage(item, message, ctx) {
  const { ownName } = ctx;
  const deleted = message.deleted === true;
  item.dataset.v = String(Number.isInteger(message.v) ? message.v : 0);
  toggleData(item, "edited", Number.isInteger(message.edited) && !deleted);
  toggleData(item, "deleted", deleted);
  toggleData(item, "mention", !deleted && mentions(message.text, ownName));
  item.classList.toggle("msg-system", message.system === true);
  item.classList.toggle("msg-deleted", deleted);
  if (Number.isInteger(message.reply_to) && !deleted) item.dataset.replyTo = String(message.reply_to);
  else delete item.dataset.replyTo;

  const meta = h(
    "div",
    { className: item.classList.contains("msg-grouped") ? "msg-meta sr-only" : "msg-meta" },
    h("span", { className: "msg-name", text: message.name }),
    message.system ? h("span", { className: "msg-tag", text: "System" }) : null,
    " ",
    timeEl(message.ts),
    item.dataset.edited !== undefined
      ? h("span", { className: "msg-edited", text: "(edited)", attrs: { title: formatFull(message.edited) } })
      : null,
  );
  const parts = [meta];
  if (item.dataset.replyTo !== undefined) {
    const original = ctx.lookup(message.reply_to);
    parts.push(
      h(
        "button",
        {
          className: "msg-reply-quote",
          attrs: { type: "button", "aria-label": `Answers ${original ? original.name : "an earlier message"}: ${snippet(original)}. Show it` },
          data: { jump: message.reply_to },
        },
        h("span", { className: "msg-reply-name", text: original ? original.name : "" }),
        " ",
        h("span", { className: "msg-reply-text", text: snippet(original) }),
      ),
    );
  }
  if (deleted) {
    parts.push(h("div", { className: "msg-text msg-tombstone", text: "message deleted" }));
  } else {
    const long = isLong(message.text);
    const text = h("div", { className: long ? "msg-text is-collapsed" : "msg-text" });
    text.append(formattedText(message.text, ctx.names, ownName));
    parts.push(text);
    if (long) {
      parts.push(
        h("button", {
          className: "msg-more button-link",
          text: "Show more",
          attrs: { type: "button", "aria-expanded": "false" },
          data: { more: "" },
        }),
      );
    }
  }
  const reactions = reactionSummary(message, ownName);
  if (reactions.length > 0) {
    parts.push(
      h(
        "div",
        { className: "reactions", attrs: { role: "group", "aria-label": "Reactions" } },
        ...reactions.map((r) =>
          h(
            "button",
            {
              className: r.mine ? "reaction reaction-mine" : "reaction",
              attrs: {
                type: "button",
                "aria-pressed": r.mine ? "true" : "false",
                title: whoReacted(r),
                "aria-label": `${r.emoji} ${r.count}: ${whoReacted(r)}`,
              },
              data: { reaction: r.emoji, count: r.count },
            },
            h("span", { className: "reaction-emoji", text: r.emoji, attrs: { "aria-hidden": "true" } }),
            h("span", { className: "reaction-count", text: String(r.count), attrs: { "aria-hidden": "true" } }),
          ),
        ),
      ),
    );
  }
  const allowed = allowedActions(message, ownName, ctx.moderator);
  const actions = [
    allowed.reply ? actionButton("reply", `Reply to ${message.name}`, "Reply") : null,
    allowed.react ? actionButton("react", `React to ${message.name}`, "React") : null,
    allowed.edit ? actionButton("edit", "Edit your message", "Edit") : null,
    allowed.delete ? actionButton("delete", own(message, ownName) ? "Delete your message" : `Delete ${message.name}'s message`, "Delete") : null,
  ].filter(Boolean);
  if (actions.length > 0) {
    parts.push(h("div", { className: "msg-actions-bar", attrs: { role: "toolbar", "aria-label": "Message actions" } }, ...actions));
  }
  const seen = item.querySelector(".seen-by");
  if (seen) parts.push(seen);
  item.replaceChildren(avatar(message.name), h("div", { className: "msg-body" }, ...parts));
}

function own(message, ownName) {
  return allowedActions(message, ownName).edit;
}

function toggleData(item, key, on) {
  if (on) item.dataset[key] = "";
  else delete item.dataset[key];
}
