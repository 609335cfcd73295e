// When to tell the room "I am typing": true at most once per THROTTLE_MS while the user
// keeps typing, false when they send, leave the box, switch rooms or stop for IDLE_MS.
// Timers and the clock are injected so tests can drive it without waiting.

export const THROTTLE_MS = 2000;
export const IDLE_MS = 3000;

export class TypingNotifier {
  constructor(send, options = {}) {
    this.send = send; // (room, typing) => void
    this.now = options.now ?? (() => Date.now());
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((id) => clearTimeout(id));
    this.throttleMs = options.throttleMs ?? THROTTLE_MS;
    this.idleMs = options.idleMs ?? IDLE_MS;
    this.room = null; // the room told "true" last, while that still holds
    this.sentAt = 0;
    this.idleTimer = null;
  }

  /** The user typed in `room`; `hasText` is false when the box is now empty. */
  input(room, hasText = true) {
    if (!hasText) {
      this.stop();
      return;
    }
    if (this.room !== null && this.room !== room) this.stop();
    const now = this.now();
    if (this.room === null || now - this.sentAt >= this.throttleMs) {
      this.room = room;
      this.sentAt = now;
      this.send(room, true);
    }
    this.#armIdle();
  }

  /** Says "stopped typing" if the room was told otherwise. */
  stop() {
    this.#disarmIdle();
    if (this.room === null) return;
    const room = this.room;
    this.room = null;
    this.send(room, false);
  }

  /** Forgets the state without telling anyone (the connection is gone anyway). */
  reset() {
    this.#disarmIdle();
    this.room = null;
  }

  #armIdle() {
    this.#disarmIdle();
    this.idleTimer = this.setTimer(() => {
      this.idleTimer = null;
      this.stop();
    }, this.idleMs);
  }

  #disarmIdle() {
    if (this.idleTimer !== null) {
      this.clearTimer(this.idleTimer);
      this.idleTimer = null;
    }
  }
}
