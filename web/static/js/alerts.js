// Alerts for messages the reader is not looking at: a desktop notification (asked for
// when the user ticks the box, as browsers require a user action) and a short tone, for
// mentions and, if asked, for every message while the tab is hidden. Choices are kept
// in localStorage.

import { byId } from "./dom.js";
import { snippet } from "./changes.js";

const PREFS_KEY = "chat.alerts";

function loadPrefs(storage) {
  try {
    const stored = JSON.parse(storage?.getItem(PREFS_KEY) ?? "{}");
    return { desktop: stored.desktop === true, sound: stored.sound === true, all: stored.all === true };
  } catch {
    return { desktop: false, sound: false, all: false };
  }
}

/** Whether a message deserves an alert: a mention always, others only if asked and hidden. */
export function wantsAlert(prefs, { mentioned, hidden }) {
  if (!prefs.desktop && !prefs.sound) return false;
  return mentioned || (prefs.all && hidden);
}

export class Alerts {
  constructor(storage = null) {
    this.storage = storage;
    this.prefs = loadPrefs(storage);
    this.audio = null;
    this.boxes = { desktop: byId("alert-desktop"), sound: byId("alert-sound"), all: byId("alert-all") };
    this.status = byId("alert-status");
    for (const [key, box] of Object.entries(this.boxes)) {
      box.checked = this.prefs[key];
      box.addEventListener("change", () => this.#changed(key, box.checked));
    }
    if (this.prefs.desktop && this.#permission() !== "granted") {
      this.prefs.desktop = false;
      this.boxes.desktop.checked = false;
    }
  }

  /** A message from someone else arrived where the reader is not looking. */
  message(message, mentioned) {
    const hidden = Boolean(globalThis.document?.hidden);
    if (!wantsAlert(this.prefs, { mentioned, hidden })) return;
    if (this.prefs.sound) this.#beep(mentioned);
    if (this.prefs.desktop && this.#permission() === "granted") {
      const title = mentioned ? `${message.name} mentioned you in #${message.room}` : `${message.name} in #${message.room}`;
      try {
        const note = new Notification(title, { body: snippet(message), tag: `chat-${message.room}` });
        note.onclick = () => {
          globalThis.focus?.();
          note.close();
        };
      } catch {
        // Some browsers allow notifications only from a service worker: the tone remains.
      }
    }
  }

  #permission() {
    return typeof Notification === "function" ? Notification.permission : "unsupported";
  }

  async #changed(key, on) {
    this.prefs[key] = on;
    this.status.textContent = "";
    if (key === "desktop" && on) {
      const permission = this.#permission();
      const answer =
        permission === "default" ? await Notification.requestPermission().catch(() => "denied") : permission;
      if (answer !== "granted") {
        this.prefs.desktop = false;
        this.boxes.desktop.checked = false;
        this.status.textContent =
          answer === "unsupported"
            ? "This browser cannot show notifications."
            : "Notifications are blocked for this site; allow them in the browser's site settings.";
      }
    }
    if (key === "sound" && on) this.#beep(true); // a sample, and browsers unlock audio on a click
    try {
      this.storage?.setItem(PREFS_KEY, JSON.stringify(this.prefs));
    } catch {
      // Not remembered across reloads; still on for this page.
    }
  }

  /** A short tone made on the spot (no sound file to fetch). */
  #beep(mentioned) {
    try {
      this.audio ??= new AudioContext();
      const osc = this.audio.createOscillator();
      const gain = this.audio.createGain();
      osc.frequency.value = mentioned ? 880 : 660;
      gain.gain.setValueAtTime(0.08, this.audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, this.audio.currentTime + 0.25);
      osc.connect(gain).connect(this.audio.destination);
      osc.start();
      osc.stop(this.audio.currentTime + 0.25);
      this.beeps = (this.beeps ?? 0) + 1; // counted, so tests can tell it played
    } catch {
      // No audio (autoplay policy before any click): the notification remains.
    }
  }
}
