// Every client-to-server event goes through `request`: an ack callback with a timeout,
// and one reply shape whatever happened: `{ok: true, ...}` or
// `{ok: false, error: {code, message, lost?}}`. `lost` marks an outcome the page cannot
// know (timeout, connection dropped), as opposed to a refusal by the server.

export const ACK_TIMEOUT_MS = 8000;

const ERROR_TEXT = {
  bad_request: "The server could not understand that request. Reload the page and try again.",
  invalid_room: "Room names are 1-32 letters, digits, '_' or '-'.",
  invalid_name: "That name cannot be used: names are 1-{maxName} characters without control characters.",
  name_taken: "Someone in this room already uses that name. Pick another one.",
  not_in_room: "You are not in that room any more; rejoining it now.",
  invalid_text: "That message is empty or contains characters that cannot be sent.",
  message_too_long: "That message is too long: the limit is {maxText} characters.",
  rate_limited: "You are sending messages too fast. Wait a few seconds, then try again.",
  unavailable: "The chat service is unavailable right now. Try again in a moment.",
  internal: "Something went wrong on the server. Try again.",
  forbidden: "Your account is not allowed in that room.",
  not_found: "That message is no longer there: it was deleted or is too old.",
  banned: "You are banned from that room.",
  unauthorized: "Your sign-in is not valid any more. Open the chat again from your application.",
};

const OFFLINE_TEXT = "You are offline; reconnecting. Nothing was sent.";
const TIMEOUT_TEXT = "The server did not answer in time. Check your connection and try again.";

/** Human text for a protocol error code; unknown codes fall back to the server's text. */
export function errorText(code, limits = {}, serverMessage = "") {
  const template = ERROR_TEXT[code];
  if (!template) return serverMessage || ERROR_TEXT.internal;
  return template
    .replace("{maxName}", String(limits.maxName ?? 32))
    .replace("{maxText}", String(limits.maxText ?? 2000));
}

/** Human text for a failed reply, knowing whether the outcome is uncertain. */
export function replyErrorText(error, limits = {}) {
  if (error.offline) return OFFLINE_TEXT;
  if (error.lost) return TIMEOUT_TEXT;
  return errorText(error.code, limits, error.message);
}

function failure(code, message, extra = {}) {
  return { ok: false, error: { code, message, ...extra } };
}

function normalise(reply) {
  if (reply === null || typeof reply !== "object") {
    return failure("internal", "The server sent a reply this page does not understand.");
  }
  if (reply.ok === true) return reply;
  const error = reply.error && typeof reply.error === "object" ? reply.error : {};
  const code = typeof error.code === "string" ? error.code : "internal";
  const message = typeof error.message === "string" ? error.message : "";
  const extra = {};
  // `banned` says until when (ms, or null: until lifted); `rate_limited` how long to wait.
  if ("until" in error && (error.until === null || Number.isInteger(error.until))) extra.until = error.until;
  if (Number.isInteger(error.retry_after_ms)) extra.retryAfterMs = error.retry_after_ms;
  return failure(code, message, extra);
}

/**
 * Watchers of every request: `started()` returns a token when a packet goes out and
 * `settled(token, reply)` hears its answer, so the page can tell "slow" and "the
 * service is unavailable" from the replies themselves.
 */
export const requestHooks = { started: null, settled: null };

/** Emits `event` with an ack and a timeout; resolves (never rejects) with a reply. */
export function request(socket, event, payload, timeoutMs = ACK_TIMEOUT_MS) {
  return new Promise((resolveReply) => {
    // socket.io would buffer the packet and send it after a reconnect, long after the
    // user was told it failed; refuse instead so what the page says stays true.
    if (!socket.connected) {
      resolveReply(failure("unavailable", "Not connected.", { offline: true }));
      return;
    }
    const token = requestHooks.started?.() ?? null;
    const resolve = (reply) => {
      requestHooks.settled?.(token, reply);
      resolveReply(reply);
    };
    socket.timeout(timeoutMs).emit(event, payload, (err, reply) => {
      if (err) resolve(failure("unavailable", String(err.message ?? err), { lost: true }));
      else resolve(normalise(reply));
    });
  });
}
