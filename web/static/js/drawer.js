// On narrow screens the sidebar (rooms, join form, members) is a drawer over the page.
// On wide ones it is a plain column and none of this has any visible effect.

import { byId } from "./dom.js";

export class Drawer {
  constructor() {
    this.panel = byId("sidebar");
    this.toggle = byId("sidebar-toggle");
    this.scrim = byId("scrim");
    this.main = byId("main");
    this.narrow = globalThis.matchMedia?.("(max-width: 767px)") ?? { matches: false };

    this.toggle.addEventListener("click", () => (this.isOpen ? this.close() : this.open()));
    this.scrim.addEventListener("click", () => this.close());
    this.narrow.addEventListener?.("change", () => this.close({ focusToggle: false }));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.isOpen) this.close();
    });
  }

  get isOpen() {
    return this.panel.classList.contains("is-open");
  }

  open() {
    this.panel.classList.add("is-open");
    this.scrim.hidden = false;
    this.toggle.setAttribute("aria-expanded", "true");
    if (!this.narrow.matches) return;
    // The drawer covers the page: keep focus and clicks out of what lies under it.
    this.main.inert = true;
    this.panel.querySelector("button, a, input")?.focus();
  }

  close({ focusToggle = true } = {}) {
    if (!this.isOpen) return;
    this.panel.classList.remove("is-open");
    this.scrim.hidden = true;
    this.toggle.setAttribute("aria-expanded", "false");
    this.main.inert = false;
    if (focusToggle && this.narrow.matches) this.toggle.focus();
  }
}
