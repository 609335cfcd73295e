// Safe DOM building: every piece of user data goes in through textContent or a text
// node, never through HTML parsing. Links are built only from checked http(s) URLs.

import { parseMessage } from "./format.js";
import { sameName } from "./names.js";
import { safeHref, splitLinks } from "./text.js";

// Attributes that could run code or load something if fed user data.
const UNSAFE_ATTR = /^(on|style$|href$|src$|srcdoc$|action$|formaction$)/i;

/**
 * h("li", {className, text, attrs: {name: value}, data: {key: value}}, ...children)
 * Strings among children become text nodes; null and false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  if (props.className) el.className = props.className;
  if (props.text !== undefined && props.text !== null) el.textContent = String(props.text);
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (UNSAFE_ATTR.test(name)) throw new Error(`h(): refusing attribute ${name}`);
    if (value === false || value === null || value === undefined) continue;
    el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [key, value] of Object.entries(props.data ?? {})) {
    el.dataset[key] = String(value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

/** An external link, or plain text when the URL is not http(s). */
export function externalLink(text, href) {
  const url = safeHref(href);
  if (!url) return document.createTextNode(text);
  const a = document.createElement("a");
  a.textContent = text;
  a.href = url;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  return a;
}

/** Message text as text nodes, with http(s) URLs turned into links. */
export function richText(text) {
  const fragment = document.createDocumentFragment();
  for (const part of splitLinks(text)) {
    fragment.append(
      part.kind === "link" ? externalLink(part.text, part.href) : document.createTextNode(part.text),
    );
  }
  return fragment;
}

function inlineNodes(parts, ownName) {
  return parts.map((part) => {
    switch (part.kind) {
      case "bold":
        return h("strong", {}, ...inlineNodes(part.children, ownName));
      case "italic":
        return h("em", {}, ...inlineNodes(part.children, ownName));
      case "code":
        return h("code", { text: part.text });
      case "link":
        return externalLink(part.text, part.href);
      case "mention": {
        const own = sameName(part.name, ownName);
        return h("span", {
          className: own ? "mention mention-own" : "mention",
          text: part.text,
          data: { mentionName: part.name },
        });
      }
      default:
        return document.createTextNode(part.text);
    }
  });
}

/**
 * Message text with its formatting (format.js) as elements and text nodes; `names` are
 * the names an @mention may name, `ownName` the reader's (highlighted more strongly).
 */
export function formattedText(text, names = [], ownName = "") {
  const fragment = document.createDocumentFragment();
  for (const block of parseMessage(text, names)) {
    if (block.kind === "code") {
      const code = h("code", { text: block.text });
      if (block.lang) code.dataset.lang = block.lang;
      fragment.append(h("pre", { className: "msg-code" }, code));
    } else if (block.kind === "quote") {
      fragment.append(h("blockquote", { className: "msg-quote-block" }, ...inlineNodes(block.inline, ownName)));
    } else {
      fragment.append(h("p", { className: "msg-para" }, ...inlineNodes(block.inline, ownName)));
    }
  }
  return fragment;
}

export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** Shows an inline field message and marks the input invalid (or clears both). */
export function setFieldError(input, messageEl, text) {
  messageEl.textContent = text;
  if (text) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}
