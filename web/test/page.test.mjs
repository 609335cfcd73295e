// Unit tests of what the page shows around messages: day separators and times
// (dates.js), the character counter (text.js) and the connection status (status.js).
// Run with `cd web && npm test` (node --test).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { dayKey, dayLabel, formatClock, startsDay } from "../static/js/dates.js";
import { AckWatch, ConnectionStatus, SLOW_MS } from "../static/js/status.js";
import { textCounter } from "../static/js/text.js";

const UTC = { timeZone: "UTC" };
const NOON = Date.parse("2026-12-05T12:00:00Z");
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

describe("day separators", () => {
  test("today, yesterday, then the date in the reader's locale", () => {
    assert.equal(dayLabel(NOON - HOUR, NOON, UTC), "Today");
    assert.equal(dayLabel(NOON - DAY, NOON, UTC), "Yesterday");
    assert.equal(dayLabel(NOON - 3 * DAY, NOON, { locale: "en-GB", ...UTC }), "Wednesday 2 December");
    assert.equal(dayLabel(NOON - 3 * DAY, NOON, { locale: "en-US", ...UTC }), "Wednesday, December 2");
  });

  test("a date of another year shows the year", () => {
    const label = dayLabel(NOON - 400 * DAY, NOON, { locale: "en-GB", ...UTC });
    assert.equal(label, "Friday, 31 October 2025");
  });

  test("days follow the reader's time zone, not UTC", () => {
    const lateUtc = Date.parse("2026-12-05T23:30:00Z");
    assert.equal(dayKey(lateUtc, UTC), "2026-12-05");
    assert.equal(dayKey(lateUtc, { timeZone: "Asia/Tokyo" }), "2026-12-06");
    const tokyo = { timeZone: "Asia/Tokyo" };
    assert.equal(dayLabel(lateUtc, Date.parse("2026-12-06T10:00:00Z"), tokyo), "Today");
  });

  test("yesterday survives a daylight-saving change", () => {
    const paris = { timeZone: "Europe/Paris" };
    // Clocks went back in Paris on 25 October 2026: that day had 25 hours.
    const after = Date.parse("2026-10-26T23:30:00+01:00");
    assert.equal(dayLabel(Date.parse("2026-10-25T00:30:00+02:00"), after, paris), "Yesterday");
    assert.equal(dayLabel(Date.parse("2026-10-25T23:30:00+01:00"), after, paris), "Yesterday");
    const before = Date.parse("2026-10-24T23:30:00+02:00");
    assert.equal(dayLabel(before, after, { locale: "en-GB", ...paris }), "Saturday 24 October");
  });

  test("a new day starts a separator; the same day does not", () => {
    assert.equal(startsDay(null, NOON, UTC), true);
    assert.equal(startsDay(NOON - HOUR, NOON, UTC), false);
    assert.equal(startsDay(NOON - 13 * HOUR, NOON, UTC), true);
  });

  test("times are written as the reader's locale writes them", () => {
    const ts = Date.parse("2026-12-05T13:54:00Z");
    assert.equal(formatClock(ts, { locale: "en-GB", ...UTC }), "13:54");
    assert.equal(formatClock(ts, { locale: "en-US", ...UTC }).replace(/\s/gu, " "), "1:54 PM");
  });
});

describe("character counter", () => {
  test("hidden until the text nears the limit", () => {
    assert.deepEqual(textCounter("x".repeat(1700), 2000), {
      count: 1700, remaining: 300, show: false, over: false, label: "",
    });
    const near = textCounter("x".repeat(1991), 2000);
    assert.deepEqual([near.show, near.over, near.label], [true, false, "9 characters left"]);
    assert.equal(textCounter("x".repeat(1999), 2000).label, "1 character left");
  });

  test("over the limit says by how much", () => {
    const over = textCounter("x".repeat(4991), 2000);
    assert.deepEqual([over.show, over.over, over.label], [true, true, "2991 characters over the limit"]);
  });

  test("counts code points after trimming, as the server does", () => {
    assert.equal(textCounter(`  ${"😀".repeat(10)}  `, 10).remaining, 0);
    assert.equal(textCounter("😀".repeat(11), 10).over, true);
  });

  test("a small limit shows the counter from 20 characters left", () => {
    assert.equal(textCounter("x".repeat(80), 100).show, true);
    assert.equal(textCounter("x".repeat(79), 100).show, false);
  });
});

describe("connection status", () => {
  const unavailable = { ok: false, error: { code: "unavailable", message: "Redis down" } };

  test("connecting at first, reconnecting after a drop", () => {
    const status = new ConnectionStatus();
    assert.deepEqual(status.view(), { state: "connecting", label: "Connecting…", slow: false });
    status.connected();
    status.disconnected();
    assert.equal(status.view().state, "disconnected");
    status.connecting();
    assert.deepEqual(status.view(), { state: "connecting", label: "Reconnecting…", slow: false });
  });

  test("a socket whose service answers unavailable is not connected", () => {
    const status = new ConnectionStatus();
    status.connected();
    status.answered(unavailable);
    assert.deepEqual(status.view(), { state: "unavailable", label: "Service unavailable", slow: false });
    status.answered({ ok: true });
    assert.equal(status.view().state, "connected");
  });

  test("no answer or no connection says nothing about the service", () => {
    const status = new ConnectionStatus();
    status.connected();
    status.answered({ ok: false, error: { code: "unavailable", message: "", lost: true } });
    status.answered({ ok: false, error: { code: "unavailable", message: "", offline: true } });
    status.answered({ ok: false, error: { code: "rate_limited", message: "" } });
    assert.equal(status.view().state, "connected");
  });

  test("a drop forgets that the service was unavailable", () => {
    const status = new ConnectionStatus();
    status.connected();
    status.answered(unavailable);
    status.disconnected();
    status.connected();
    assert.equal(status.view().state, "connected");
  });

  test("slow shows only on a connected socket", () => {
    const status = new ConnectionStatus();
    assert.equal(status.view(true).slow, false);
    status.connected();
    assert.deepEqual(status.view(true), {
      state: "connected", label: "Connected; slow to answer…", slow: true,
    });
  });

  test("an answer awaited past the limit is overdue until it comes", () => {
    const acks = new AckWatch();
    const token = acks.start(1000);
    assert.equal(acks.overdue(1000 + SLOW_MS), false);
    assert.equal(acks.overdue(1001 + SLOW_MS), true);
    acks.end(token);
    assert.equal(acks.overdue(1001 + SLOW_MS), false);
    acks.start(0);
    acks.clear();
    assert.equal(acks.overdue(99_999), false);
  });
});
