// Unit tests of the identity token source (token.js): claims, the `#token=` fragment, the
// token URL, expiry. Run with `cd web && npm test` (node --test).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  EXPIRY_MARGIN_MS,
  TOKEN_STORAGE,
  TokenSource,
  decodeClaims,
  isExpired,
  pageTokens,
  takeFragmentToken,
} from "../static/js/token.js";

const NOW = 1_700_000_000_000;

function b64url(value) {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** An unsigned-looking JWT: the page never checks signatures, the server does. */
function jwt(claims) {
  return `${b64url({ alg: "HS256", typ: "JWT" })}.${b64url(claims)}.c2lnbmF0dXJl`;
}

const ALICE = { sub: "u-1", name: "Ålice 🙂", exp: NOW / 1000 + 600, rooms: ["lobby", 7] };

class MemoryStorage {
  constructor(refuse = false) {
    this.map = new Map();
    this.refuse = refuse;
  }

  getItem(key) {
    if (this.refuse) throw new Error("SecurityError");
    return this.map.has(key) ? this.map.get(key) : null;
  }

  setItem(key, value) {
    if (this.refuse) throw new Error("SecurityError");
    this.map.set(key, String(value));
  }

  removeItem(key) {
    this.map.delete(key);
  }
}

function fakeLocation(hash, pathname = "/rooms/lobby", search = "") {
  return { hash, pathname, search };
}

function fakeHistory() {
  return {
    urls: [],
    replaceState(_state, _title, url) {
      this.urls.push(url);
    },
  };
}

function fetchReturning(...responses) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, init });
    const next = responses.shift();
    if (next instanceof Error) throw next;
    return { ok: next.status === 200, json: async () => next.body };
  };
  fn.calls = calls;
  return fn;
}

describe("decodeClaims", () => {
  test("reads sub, name (UTF-8), exp, the string rooms and roles", () => {
    assert.deepEqual(decodeClaims(jwt(ALICE)), { ...ALICE, rooms: ["lobby"], roles: [] });
  });

  test("rooms absent means no list", () => {
    const { rooms, ...rest } = ALICE;
    assert.equal(decodeClaims(jwt(rest)).rooms, null);
  });

  test("anything that is not a token with the needed claims is null", () => {
    for (const bad of [null, 42, "", "a.b", "a.b.c", `x.${b64url([1])}.y`, jwt({ sub: "u", exp: 1 })]) {
      assert.equal(decodeClaims(bad), null, String(bad));
    }
    assert.equal(decodeClaims(jwt({ ...ALICE, exp: "soon" })), null);
  });
});

describe("isExpired", () => {
  test("a token is unusable from the margin before its exp on", () => {
    const claims = decodeClaims(jwt(ALICE));
    assert.equal(isExpired(claims, claims.exp * 1000 - EXPIRY_MARGIN_MS - 1), false);
    assert.equal(isExpired(claims, claims.exp * 1000 - EXPIRY_MARGIN_MS), true);
    assert.equal(isExpired(null, NOW), true);
  });
});

describe("takeFragmentToken", () => {
  test("takes the token and strips it from the address, keeping the rest", () => {
    const token = jwt(ALICE);
    const history = fakeHistory();
    const found = takeFragmentToken(fakeLocation(`#token=${token}&x=1`, "/rooms/lobby", "?a=b"), history);
    assert.equal(found, token);
    assert.deepEqual(history.urls, ["/rooms/lobby?a=b#x=1"]);
  });

  test("no fragment, another fragment: nothing taken, address untouched", () => {
    const history = fakeHistory();
    assert.equal(takeFragmentToken(fakeLocation(""), history), null);
    assert.equal(takeFragmentToken(fakeLocation("#top"), history), null);
    assert.deepEqual(history.urls, []);
  });

  test("a malformed token is stripped from the address but not used", () => {
    const history = fakeHistory();
    assert.equal(takeFragmentToken(fakeLocation("#token=nonsense"), history), null);
    assert.deepEqual(history.urls, ["/rooms/lobby"]);
  });
});

describe("TokenSource", () => {
  test("the stored token is used while valid, without asking the URL", async () => {
    const storage = new MemoryStorage();
    const fetchFn = fetchReturning();
    const source = new TokenSource({ url: "http://app/token", storage, fetchFn, now: () => NOW });
    source.store(jwt(ALICE));
    assert.equal(await source.get(), jwt(ALICE));
    assert.equal(storage.getItem(TOKEN_STORAGE), jwt(ALICE));
    assert.equal(fetchFn.calls.length, 0);
  });

  test("an expired token is replaced by one fetched with the user's cookies", async () => {
    const storage = new MemoryStorage();
    const fresh = jwt({ ...ALICE, exp: NOW / 1000 + 1200 });
    const fetchFn = fetchReturning({ status: 200, body: { token: fresh } });
    const source = new TokenSource({ url: "http://app/token", storage, fetchFn, now: () => NOW });
    source.store(jwt({ ...ALICE, exp: NOW / 1000 - 1 }));
    assert.equal(await source.get(), fresh);
    assert.equal(storage.getItem(TOKEN_STORAGE), fresh);
    assert.equal(fetchFn.calls[0].url, "http://app/token");
    assert.equal(fetchFn.calls[0].init.credentials, "include");
    assert.equal(fetchFn.calls[0].init.cache, "no-store");
  });

  test("without a URL an expired token means signed out", async () => {
    const source = new TokenSource({ storage: new MemoryStorage(), fetchFn: fetchReturning(), now: () => NOW });
    source.store(jwt({ ...ALICE, exp: NOW / 1000 }));
    assert.equal(await source.get(), null);
  });

  test("refusals, bad bodies, expired answers and network errors give null", async () => {
    const expired = jwt({ ...ALICE, exp: NOW / 1000 - 60 });
    const fetchFn = fetchReturning(
      { status: 401, body: { error: "not logged in" } },
      { status: 200, body: { nope: 1 } },
      { status: 200, body: { token: expired } },
      new TypeError("Failed to fetch"),
    );
    const source = new TokenSource({ url: "http://app/token", storage: new MemoryStorage(), fetchFn, now: () => NOW });
    for (let i = 0; i < 4; i += 1) assert.equal(await source.get(), null);
    assert.equal(fetchFn.calls.length, 4);
  });

  test("forget drops the token so that the next get asks the URL", async () => {
    const fresh = jwt({ ...ALICE, sub: "u-2" });
    const fetchFn = fetchReturning({ status: 200, body: { token: fresh } });
    const source = new TokenSource({ url: "http://app/token", storage: new MemoryStorage(), fetchFn, now: () => NOW });
    source.store(jwt(ALICE));
    source.forget();
    assert.equal(await source.get(), fresh);
  });

  test("the default fetch is called as a function, not as a method of the source", async () => {
    const saved = globalThis.fetch;
    globalThis.fetch = function strictFetch() {
      // Browsers throw "Illegal invocation" when fetch runs with a foreign `this`.
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
      return Promise.resolve({ ok: true, json: async () => ({ token: jwt(ALICE) }) });
    };
    try {
      const source = new TokenSource({ url: "http://app/token", now: () => NOW });
      assert.equal(await source.get(), jwt(ALICE));
    } finally {
      globalThis.fetch = saved;
    }
  });

  test("a storage that refuses keeps the token in memory", async () => {
    const source = new TokenSource({ storage: new MemoryStorage(true), fetchFn: fetchReturning(), now: () => NOW });
    source.store(jwt(ALICE));
    assert.equal(source.current(), jwt(ALICE));
    source.forget();
    assert.equal(source.current(), null);
  });
});

describe("pageTokens", () => {
  const body = (identity, tokenUrl = "") => ({ dataset: { identity, tokenUrl } });

  test("identity off: no token source, the fragment is left alone", () => {
    const history = fakeHistory();
    assert.equal(pageTokens(body("off"), fakeLocation(`#token=${jwt(ALICE)}`), history, new MemoryStorage()), null);
    assert.deepEqual(history.urls, []);
  });

  test("identity on: the fragment's token is stored for this tab", () => {
    const storage = new MemoryStorage();
    const tokens = pageTokens(body("on", "http://app/token"), fakeLocation(`#token=${jwt(ALICE)}`), fakeHistory(), storage);
    assert.equal(tokens.url, "http://app/token");
    assert.equal(storage.getItem(TOKEN_STORAGE), jwt(ALICE));
  });

  const MALLORY = { sub: "u-666", name: "Mallory", exp: NOW / 1000 + 600 };
  const open = (storage, claims) =>
    pageTokens(body("on"), fakeLocation(`#token=${jwt(claims)}`), fakeHistory(), storage, () => NOW);

  test("a link for another user never replaces the tab's token: it is only offered", () => {
    const storage = new MemoryStorage();
    storage.setItem(TOKEN_STORAGE, jwt(ALICE));
    const tokens = open(storage, MALLORY);
    assert.equal(tokens.current(), jwt(ALICE));
    assert.equal(tokens.offered, jwt(MALLORY));
    assert.equal(tokens.switchToOffered(), true);
    assert.equal(storage.getItem(TOKEN_STORAGE), jwt(MALLORY));
    assert.equal(tokens.offered, null);
  });

  test("a link for the same user (a fresher token) is taken", () => {
    const storage = new MemoryStorage();
    storage.setItem(TOKEN_STORAGE, jwt(ALICE));
    const fresher = { ...ALICE, exp: ALICE.exp + 60 };
    const tokens = open(storage, fresher);
    assert.equal(tokens.current(), jwt(fresher));
    assert.equal(tokens.offered, null);
  });

  test("a tab whose token expired takes the link's token", () => {
    const storage = new MemoryStorage();
    storage.setItem(TOKEN_STORAGE, jwt({ ...ALICE, exp: NOW / 1000 - 1 }));
    const tokens = open(storage, MALLORY);
    assert.equal(tokens.current(), jwt(MALLORY));
    assert.equal(tokens.offered, null);
  });

  test("roles come with the claims; anything but strings is dropped", () => {
    assert.deepEqual(decodeClaims(jwt({ ...ALICE, roles: ["moderator", 3] })).roles, ["moderator"]);
    assert.deepEqual(decodeClaims(jwt(ALICE)).roles, []);
  });
});
