// The moderator's dialog on the chat page (identity on, the token's roles hold
// "moderator"): remove or ban a member, with a duration and a reason. The server
// checks the role; this only offers the controls to those who have it.

import { BAN_DURATIONS } from "./changes.js";
import { byId, h, setFieldError } from "./dom.js";
import { replyErrorText, request } from "./rpc.js";

export class ModerationDialog {
  constructor({ store, limits, socket, onDone }) {
    this.store = store;
    this.limits = limits;
    this.socket = socket; // () => the connected socket or null
    this.onDone = onDone; // (text) => shown to the moderator
    this.dialog = byId("moderate");
    this.form = byId("moderate-form");
    this.title = byId("moderate-title");
    this.duration = byId("moderate-duration");
    this.reason = byId("moderate-reason");
    this.error = byId("moderate-error");
    this.target = null;
    this.duration.replaceChildren(
      ...BAN_DURATIONS.map((d) => h("option", { text: d.label, attrs: { value: d.seconds ?? "" } })),
    );
    this.form.addEventListener("change", () => this.#sync());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#apply();
    });
    byId("moderate-cancel").addEventListener("click", () => this.dialog.close());
  }

  open(name) {
    const room = this.store.active;
    if (room === null) return;
    this.target = { room, name };
    this.title.textContent = `Moderate ${name} in #${room}`;
    this.form.reset();
    setFieldError(this.reason, this.error, "");
    this.#sync();
    this.dialog.showModal();
  }

  #sync() {
    const ban = this.form.elements.action.value === "ban";
    this.duration.disabled = !ban;
  }

  async #apply() {
    const { room, name } = this.target;
    const ban = this.form.elements.action.value === "ban";
    const payload = { room, name };
    const reason = this.reason.value.trim();
    if (reason) payload.reason = reason;
    if (ban && this.duration.value) payload.seconds = Number(this.duration.value);
    const socket = this.socket();
    if (!socket) {
      setFieldError(this.reason, this.error, "You are offline; try again once reconnected.");
      return;
    }
    const reply = await request(socket, ban ? "ban" : "kick", payload);
    if (!reply.ok) {
      setFieldError(this.reason, this.error, replyErrorText(reply.error, this.limits));
      return;
    }
    this.dialog.close();
    this.onDone(ban ? `${name} is banned from #${room}.` : `${name} was removed from #${room}.`);
  }
}
