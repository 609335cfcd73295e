// When the chat page joins a room again after a failed join: capped exponential backoff
// with jitter per room, and a bounded wait for a name our own previous connection may
// still hold after a reconnect. Timers only; what a retry does is the caller's.

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15000;
// Without a shared key (storage refused) a dead node's names are freed only within
// CHAT_NODE_TIMEOUT, so a rejoin may meet its own old name for a while.
const NAME_RELEASE_WAIT_MS = 20000;
export const NAME_RETRY_MS = 2000;

export class JoinRetries {
  constructor() {
    this.byRoom = new Map(); // room -> {timer, delay, nameWaitUntil}
  }

  /** Stops a room's pending retry; `forget` also drops its backoff (the room is gone). */
  clear(room, { forget = false } = {}) {
    const retry = this.byRoom.get(room);
    if (!retry) return;
    clearTimeout(retry.timer);
    retry.timer = null;
    if (forget) this.byRoom.delete(room);
  }

  /** The room joined: the next failure starts the backoff again. */
  reset(room) {
    this.byRoom.delete(room);
  }

  /** Calls `run` after the next backoff delay (or `delay`), with ±20% jitter. */
  schedule(room, run, delay = null) {
    const retry = this.byRoom.get(room) ?? { timer: null, delay: RETRY_FIRST_MS / 2 };
    clearTimeout(retry.timer);
    retry.delay = delay ?? Math.min(retry.delay * 2, RETRY_MAX_MS);
    retry.timer = setTimeout(() => {
      retry.timer = null;
      run();
    }, retry.delay * (0.8 + Math.random() * 0.4));
    this.byRoom.set(room, retry);
  }

  /**
   * A rejoin met its own name: `{first, expired}`, `first` on the first such answer
   * (say so once), `expired` once the wait is over (then the name is someone else's).
   */
  nameWait(room, now = Date.now()) {
    const retry = this.byRoom.get(room) ?? { timer: null, delay: RETRY_FIRST_MS };
    this.byRoom.set(room, retry);
    const first = !retry.nameWaitUntil;
    if (first) retry.nameWaitUntil = now + NAME_RELEASE_WAIT_MS;
    return { first, expired: now > retry.nameWaitUntil };
  }
}
