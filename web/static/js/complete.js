// @name completion in the message box: typing "@" and the start of a name offers the
// room's members (keyboard: arrows, Enter or Tab to choose, Escape to close; or a click).

import { byId, h } from "./dom.js";
import { avatar } from "./message.js";
import { completeMention, mentionQuery } from "./names.js";

const MAX_OPTIONS = 8;

export class MentionCompleter {
  constructor(names) {
    this.names = names; // () => the active room's members (not the reader)
    this.box = byId("text");
    this.list = byId("mention-options");
    this.query = null;
    this.index = 0;
    this.box.setAttribute("aria-autocomplete", "list");
    this.box.setAttribute("aria-controls", "mention-options");
    this.list.addEventListener("mousedown", (event) => event.preventDefault()); // keep focus
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest("[data-mention-option]");
      if (option) this.choose(option.dataset.mentionOption);
    });
    this.box.addEventListener("blur", () => this.close());
  }

  get open() {
    return this.query !== null;
  }

  /** The box changed: offer names for the "@prefix" before the caret, if any. */
  update() {
    const query = mentionQuery(this.box.value, this.box.selectionStart ?? this.box.value.length, this.names());
    if (query === null) {
      this.close();
      return;
    }
    this.query = { ...query, options: query.options.slice(0, MAX_OPTIONS) };
    this.index = Math.min(this.index, this.query.options.length - 1);
    this.#render();
  }

  /** Keys while the list is open; true when the key was used here. */
  key(event) {
    if (!this.open) return false;
    const count = this.query.options.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      this.index = (this.index + (event.key === "ArrowDown" ? 1 : count - 1)) % count;
      this.#render();
      return true;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      this.choose(this.query.options[this.index]);
      return true;
    }
    if (event.key === "Escape") {
      this.close();
      return true;
    }
    return false;
  }

  choose(name) {
    if (!this.open) return;
    const { value, caret } = completeMention(this.box.value, this.query, name);
    this.box.value = value;
    this.box.setSelectionRange(caret, caret);
    this.close();
    this.box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  close() {
    this.query = null;
    this.index = 0;
    this.list.hidden = true;
    this.list.replaceChildren();
    this.box.removeAttribute("aria-activedescendant");
  }

  #render() {
    this.list.replaceChildren(
      ...this.query.options.map((name, i) =>
        h(
          "li",
          {
            className: i === this.index ? "mention-option is-active" : "mention-option",
            attrs: { role: "option", id: `mention-option-${i}`, "aria-selected": i === this.index ? "true" : "false" },
            data: { mentionOption: name },
          },
          avatar(name, "avatar avatar-small"),
          h("span", { text: name }),
        ),
      ),
    );
    this.list.hidden = false;
    this.box.setAttribute("aria-activedescendant", `mention-option-${this.index}`);
  }
}
