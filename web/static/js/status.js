// What the header says about the connection, derived from facts and nothing else: a
// socket that is up but whose service answers `unavailable` is not "Connected", and an
// answer overdue is shown as slow before the ping timeout declares the socket dead.

export const SLOW_MS = 3000;
// Answered only `unavailable` this long while connected: the node may be cut off from
// Redis while the others are fine (its /readyz fails, so the balancer sends a new
// connection elsewhere). Each move that did not help doubles the wait, up to MOVE_MAX_MS.
export const MOVE_AFTER_MS = 10000;
export const MOVE_MAX_MS = 60000;
// A full Redis (maxmemory) is shared by every node: moving would not help. The server
// says so in the error's message (the code stays `unavailable`).
const STORE_FULL = "cannot store messages";

const LABEL = {
  connected: "Connected",
  unavailable: "Service unavailable",
  full: "The service cannot store messages right now",
};

export class ConnectionStatus {
  constructor() {
    this.socket = "connecting"; // "connecting" | "connected" | "disconnected"
    this.everConnected = false;
    this.unavailable = false;
    this.online = true; // navigator.onLine: false when the browser knows it has no network
    this.full = false; // the unavailability is a full Redis (every node alike)
    this.unavailableSince = null; // ms of the first `unavailable` with no `ok` since
    this.moveWaitMs = MOVE_AFTER_MS;
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
    this.full = false;
    this.unavailableSince = null;
  }

  /** Every answer tells whether the service behind the socket works (`now`: ms). */
  answered(reply, now = Date.now()) {
    if (reply.ok) {
      this.unavailable = false;
      this.full = false;
      this.unavailableSince = null;
      this.moveWaitMs = MOVE_AFTER_MS; // it works: the next stall waits the short time
    } else if (reply.error.code === "unavailable" && !reply.error.lost && !reply.error.offline) {
      this.unavailable = true;
      this.full = String(reply.error.message ?? "").includes(STORE_FULL);
      if (this.unavailableSince === null) this.unavailableSince = now;
    }
  }

  /**
   * True when the page should reconnect to reach another node: connected, answered only
   * `unavailable` for the current wait, and not because Redis is full. The caller then
   * reconnects and calls `moved(now)`.
   */
  shouldMove(now) {
    return (
      this.socket === "connected" &&
      this.unavailable &&
      !this.full &&
      this.unavailableSince !== null &&
      now - this.unavailableSince >= this.moveWaitMs
    );
  }

  /** A move was made: if it does not help, the next one waits twice as long. */
  moved(now) {
    this.unavailableSince = now;
    this.moveWaitMs = Math.min(this.moveWaitMs * 2, MOVE_MAX_MS);
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
    if (state === "unavailable" && this.full) label = LABEL.full;
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
