// Where the page gets its identity token when the service runs with identity on
// (CHAT_AUTH_SECRET or CHAT_AUTH_PUBLIC_KEY). The embedding application hands it over in
// one of two ways, both documented in the README:
// - a link to `/rooms/{room}#token=JWT`: the fragment never reaches a server or a
//   Referer header; the page keeps the token in sessionStorage (this tab only, gone
//   with it) and removes it from the address bar at once;
// - a token URL (CHAT_AUTH_TOKEN_URL) that the page fetches with the user's cookies and
//   that answers `{"token": JWT}`, so the page gets a fresh token whenever it needs one
//   (every reconnect after the node closed the connection at the token's expiry).
// The page reads the token's claims only to show the name and to know when it expired;
// the server verifies the signature. Pure apart from the injected storage and fetch.

export const TOKEN_STORAGE = "chat.token";
// A token this close to its expiry is not used for a new connection: the node would
// close it again at once.
export const EXPIRY_MARGIN_MS = 5000;

function base64UrlDecode(part) {
  const padded = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** The claims the page uses ({sub, name, exp, rooms, roles}), or null for anything else. */
export function decodeClaims(token) {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  let claims;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    return null;
  }
  if (claims === null || typeof claims !== "object") return null;
  const { sub, name, exp, rooms } = claims;
  if (typeof sub !== "string" || typeof name !== "string" || !Number.isFinite(exp)) return null;
  const allowed = Array.isArray(rooms) ? rooms.filter((r) => typeof r === "string") : null;
  const roles = Array.isArray(claims.roles) ? claims.roles.filter((r) => typeof r === "string") : [];
  return { sub, name, exp, rooms: allowed, roles };
}

/** True when the token cannot open a connection any more (expired or about to). */
export function isExpired(claims, now = Date.now()) {
  return claims === null || claims.exp * 1000 - EXPIRY_MARGIN_MS <= now;
}

/**
 * Takes a `#token=JWT` fragment off the address, rewriting the address without it (so it
 * is not bookmarked, shared or left in history). Returns the token, or null when the
 * fragment holds none that could be one.
 */
export function takeFragmentToken(location, history) {
  const hash = typeof location?.hash === "string" ? location.hash : "";
  if (!hash.startsWith("#")) return null;
  const params = new URLSearchParams(hash.slice(1));
  const token = params.get("token");
  if (token === null) return null;
  params.delete("token");
  const rest = params.toString();
  try {
    history?.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  } catch {
    // A page opened from a file refuses; the token still works.
  }
  return decodeClaims(token) === null ? null : token;
}

/** The page's token: the stored one while it is valid, else a fresh one from the URL. */
export class TokenSource {
  constructor({ url = "", storage = null, fetchFn = null, now = () => Date.now() } = {}) {
    this.url = url || "";
    this.storage = storage;
    // fetch called as a method of another object throws "Illegal invocation": wrap it.
    this.fetchFn = fetchFn ?? ((...args) => globalThis.fetch(...args));
    this.now = now;
    this.memory = null; // the token when storage refuses
    this.offered = null; // a link's token for another user, taken only if the user switches
  }

  /** The user chose to switch to the account the link offered. */
  switchToOffered() {
    if (this.offered === null) return false;
    this.store(this.offered);
    this.offered = null;
    return true;
  }

  /** The stored token when it can still open a connection. */
  current() {
    let token = this.memory;
    try {
      token = this.storage?.getItem(TOKEN_STORAGE) ?? token;
    } catch {
      // Storage refused: the copy in memory is all there is.
    }
    return token !== null && !isExpired(decodeClaims(token), this.now()) ? token : null;
  }

  /** A token to connect with, or null: the user must sign in through the application. */
  async get() {
    return this.current() ?? (await this.fetchFresh());
  }

  /** Asks the token URL for a new token (with the user's cookies); null on any failure. */
  async fetchFresh() {
    if (!this.url) return null;
    let token = null;
    try {
      const response = await this.fetchFn(this.url, {
        credentials: "include",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (response.ok) token = (await response.json())?.token ?? null;
    } catch {
      return null; // the application is unreachable: the caller retries later
    }
    if (isExpired(decodeClaims(token), this.now())) return null;
    this.store(token);
    return token;
  }

  /** Keeps `token` for this tab (sessionStorage: reloads keep it, other tabs do not). */
  store(token) {
    this.memory = token;
    try {
      this.storage?.setItem(TOKEN_STORAGE, token);
    } catch {
      // Kept in memory only.
    }
  }

  /** The server refused the token: never offer it again. */
  forget() {
    this.memory = null;
    try {
      this.storage?.removeItem(TOKEN_STORAGE);
    } catch {
      // Nothing stored, nothing to remove.
    }
  }
}

/** sessionStorage, or null where the browser refuses access to it. */
export function tabStorage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

/**
 * The page's token source with identity on (null with identity off). A `#token=` link
 * never replaces the token the tab holds for another user: anyone can send a link, and
 * a tab quietly signed in as the sender would post under the sender's name (a login
 * CSRF). Such a token is kept aside as `offered`, for the user to switch to explicitly;
 * a link for the same user (a fresher token) or a tab without a valid token takes it.
 * `storage` is this tab's sessionStorage by default.
 */
export function pageTokens(body, location, history, storage = tabStorage(), now = () => Date.now()) {
  if (body.dataset.identity !== "on") return null;
  const tokens = new TokenSource({ url: body.dataset.tokenUrl ?? "", storage, now });
  const fromFragment = takeFragmentToken(location, history);
  if (fromFragment === null) return tokens;
  const held = tokens.current();
  if (held === null || decodeClaims(held).sub === decodeClaims(fromFragment).sub) {
    tokens.store(fromFragment);
  } else {
    tokens.offered = fromFragment;
  }
  return tokens;
}
