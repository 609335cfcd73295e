// Random identifiers of the page: the browser's `key` (one per browser, kept in
// localStorage, sent with every join so that all tabs and every reconnect are one user
// holding one name) and a `client_id` per typed message (safe retries).

export const KEY_STORAGE = "chat.key";
export const KEY_RE = /^[A-Za-z0-9_-]{16,128}$/;
export const CLIENT_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function defaultRandom(length) {
  // getRandomValues works on plain http too, unlike crypto.randomUUID.
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

/** `length` characters of A-Z a-z 0-9 _ -, 6 random bits each. */
export function randomToken(length, random = defaultRandom) {
  let out = "";
  for (const byte of random(length)) out += ALPHABET[byte & 63];
  return out;
}

/** A fresh message id: 22 characters, 132 random bits. */
export function newClientId(random = defaultRandom) {
  return randomToken(22, random);
}

/**
 * The browser's key: the stored one when it is well formed, else a new one that is
 * stored. Without storage every page is a user of its own, as in protocol version 1.
 */
export function loadKey(storage = globalThis.localStorage, random = defaultRandom) {
  try {
    const stored = storage?.getItem(KEY_STORAGE) ?? "";
    if (KEY_RE.test(stored)) return stored;
  } catch {
    // Storage refused: fall through to a key for this page only.
  }
  const key = randomToken(32, random);
  try {
    storage?.setItem(KEY_STORAGE, key);
  } catch {
    // Not shared with other tabs, but this page still reconnects as itself.
  }
  return key;
}
