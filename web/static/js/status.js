// What the header says about the connection, derived from facts and nothing else: a
// socket that is up but whose service answers `unavailable` is not "Connected", and an
// answer overdue is shown as slow before the ping timeout declares the socket dead.

export const SLOW_MS = 3000;

const LABEL = {
  connected: "Connected",
  unavailable: "Service unavailable",
};

export class ConnectionStatus {
  constructor() {
    this.socket = "connecting"; // "connecting" | "connected" | "disconnected"
    this.everConnected = false;
    this.unavailable = false;
    this.online = true; // navigator.onLine: false when the browser knows it has no network
  }

  /** The browser's online/offline events (and navigator.onLine at start). */
  setOnline(online) {
    this.online = online !== false;
  }

  connected() {
    this.socket = "connected";
    this.everConnected = true;
  }

  connecting() {
    this.socket = "connecting";
  }

  disconnected() {
    this.socket = "disconnected";
    this.unavailable = false;
  }

  /** Every answer tells whether the service behind the socket works. */
  answered(reply) {
    if (reply.ok) this.unavailable = false;
    else if (reply.error.code === "unavailable" && !reply.error.lost && !reply.error.offline) {
      this.unavailable = true;
    }
  }

  /**
   * `{state, label, slow}`: `state` is the page hook's data-connection value. The label
   * says "Offline" only when the browser has no network, "Reconnecting…" while the
   * service cannot be reached, and how many typed messages wait (`waiting`).
   */
  view(slow = false, waiting = 0) {
    let state = this.socket;
    if (state === "connected" && this.unavailable) state = "unavailable";
    if (!this.online && state !== "connected") state = "disconnected";
    let label = LABEL[state] ?? (this.everConnected ? "Reconnecting…" : "Connecting…");
    if (!this.online && state === "disconnected") label = "Offline";
    const isSlow = slow && (state === "connected" || state === "unavailable");
    if (isSlow && state === "connected") label = "Connected; slow to answer…";
    if (waiting > 0 && state !== "connected") {
      label += ` (${waiting} unsent)`;
    }
    return { state, label, slow: isSlow };
  }
}

/** Requests waiting for an answer, to tell "slow" from "fine". */
export class AckWatch {
  constructor() {
    this.started = new Map();
    this.nextToken = 0;
  }

  start(now) {
    this.nextToken += 1;
    this.started.set(this.nextToken, now);
    return this.nextToken;
  }

  end(token) {
    this.started.delete(token);
  }

  /** True when some answer has been awaited for more than `limitMs`. */
  overdue(now, limitMs = SLOW_MS) {
    for (const since of this.started.values()) if (now - since > limitMs) return true;
    return false;
  }

  clear() {
    this.started.clear();
  }
}
