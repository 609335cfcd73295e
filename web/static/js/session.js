// Who the chat page is signed in as, with identity on: the token's user, "Signed out"
// with a way back to the application, and a link that offers another account (taken
// only if the person switches). With identity off there is no session: `who` is null.

import { byId } from "./dom.js";
import { decodeClaims } from "./token.js";

export class Session {
  constructor({ tokens, body, store, rooms, view }) {
    this.tokens = tokens; // token.js's source, or null with identity off
    this.body = body;
    this.store = store;
    this.rooms = rooms;
    this.view = view;
    this.who = null; // the token's claims once signed in
    this.signedOut = false;
  }

  /** Identity on: the token's user, or false (then the page says how to sign in). */
  async signIn() {
    this.who = decodeClaims(await this.tokens.get());
    const { who } = this;
    if (who === null) {
      this.signOut("Open this chat from your application to sign in.");
      return false;
    }
    this.store.defaultName = who.name;
    this.rooms.fixedName = who.name;
    this.rooms.moderator = who.roles.includes("moderator");
    byId("moderator-badge").hidden = !this.rooms.moderator;
    const whoami = byId("whoami");
    whoami.textContent = `Signed in as ${who.name}`;
    whoami.hidden = false;
    this.#offerSwitch();
    return true;
  }

  /** No usable token: the user must come back through the application. */
  signOut(text) {
    this.signedOut = true;
    this.view.setConnection({ state: "disconnected", label: "Signed out" });
    this.view.showError(text, "unauthorized", null, { link: this.applicationLink() });
    this.view.setComposer(false, "Sign in to chat");
  }

  /**
   * Where the person signs in again: the embedding application, known from the token
   * URL's origin (CHAT_AUTH_TOKEN_URL); null when the page only ever had a link's token.
   */
  applicationLink() {
    try {
      const url = new URL(this.body.dataset.tokenUrl ?? "");
      return { text: "Open the application", href: `${url.origin}/` };
    } catch {
      return null;
    }
  }

  /** A link carried another account's token: it is used only if the person says so. */
  #offerSwitch() {
    const offered = decodeClaims(this.tokens.offered);
    if (offered === null) return;
    const text = `This link would sign you in as ${offered.name}; you are still signed in as ${this.who.name}.`;
    const run = () => {
      this.tokens.switchToOffered();
      globalThis.location.reload();
    };
    this.view.showError(text, "account", null, { action: { text: `Switch to ${offered.name}`, run } });
  }
}
