// Unit tests of the connection status's move off a node cut off from Redis (status.js):
// only `unavailable` for MOVE_AFTER_MS while connected makes the page reconnect, with
// the wait doubling up to MOVE_MAX_MS; a full Redis (every node alike) never does.
// Run with `cd web && npm test` (node --test).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { ConnectionStatus, MOVE_AFTER_MS, MOVE_MAX_MS } from "../static/js/status.js";

const T0 = 1_700_000_000_000;
const UNAVAILABLE = { ok: false, error: { code: "unavailable", message: "The chat service is unavailable." } };
const FULL = {
  ok: false,
  error: { code: "unavailable", message: "The service cannot store messages right now; try again later." },
};

function connected() {
  const status = new ConnectionStatus();
  status.connected();
  return status;
}

describe("moving off a node that only answers unavailable", () => {
  test("after MOVE_AFTER_MS of only unavailable, and not before", () => {
    const status = connected();
    status.answered(UNAVAILABLE, T0);
    status.answered(UNAVAILABLE, T0 + 5000);
    assert.equal(status.shouldMove(T0 + MOVE_AFTER_MS - 1), false);
    assert.equal(status.shouldMove(T0 + MOVE_AFTER_MS), true);
  });

  test("an ok answer in between starts the count again", () => {
    const status = connected();
    status.answered(UNAVAILABLE, T0);
    status.answered({ ok: true }, T0 + 6000);
    status.answered(UNAVAILABLE, T0 + 7000);
    assert.equal(status.shouldMove(T0 + MOVE_AFTER_MS + 1000), false);
    assert.equal(status.shouldMove(T0 + 7000 + MOVE_AFTER_MS), true);
  });

  test("each move that did not help doubles the wait, up to the cap; ok resets it", () => {
    const status = connected();
    let now = T0;
    const waits = [];
    for (let i = 0; i < 5; i += 1) {
      status.answered(UNAVAILABLE, now);
      let at = now;
      while (!status.shouldMove(at)) at += 1000;
      waits.push(at - now);
      status.moved(at);
      status.disconnected();
      status.connected();
      now = at;
    }
    assert.deepEqual(waits, [10000, 20000, 40000, 60000, 60000]);
    assert.equal(MOVE_MAX_MS, 60000);
    status.answered({ ok: true }, now);
    status.answered(UNAVAILABLE, now + 1);
    assert.equal(status.shouldMove(now + 1 + MOVE_AFTER_MS), true);
  });

  test("a full Redis never moves, and the label says why", () => {
    const status = connected();
    status.answered(FULL, T0);
    assert.equal(status.shouldMove(T0 + 10 * MOVE_MAX_MS), false);
    assert.deepEqual(status.view(), {
      state: "unavailable",
      label: "The service cannot store messages right now",
      slow: false,
    });
  });

  test("lost or offline answers are not the service's: no move", () => {
    const status = connected();
    status.answered({ ok: false, error: { code: "unavailable", message: "x", lost: true } }, T0);
    status.answered({ ok: false, error: { code: "unavailable", message: "x", offline: true } }, T0);
    assert.equal(status.shouldMove(T0 + MOVE_MAX_MS), false);
  });

  test("not while disconnected", () => {
    const status = connected();
    status.answered(UNAVAILABLE, T0);
    status.connecting();
    assert.equal(status.shouldMove(T0 + MOVE_MAX_MS), false);
  });
});
