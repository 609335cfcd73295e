// Dates and times in the reader's locale and time zone: "Today", "Yesterday", then
// dates, as chat apps separate days. Locale and zone are parameters so that tests can
// pin them; the page passes nothing and gets the browser's.

const DAY_MS = 24 * 60 * 60 * 1000;

function isoDay(ts, timeZone) {
  // en-CA formats a date as YYYY-MM-DD, which sorts and compares as text.
  return new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  }).format(new Date(ts));
}

/** The calendar day of `ts` where the reader is, as YYYY-MM-DD. */
export function dayKey(ts, { timeZone } = {}) {
  return isoDay(ts, timeZone);
}

function previousDay(key) {
  // Calendar arithmetic in UTC, so a daylight-saving change cannot skip or repeat a day.
  return new Date(Date.parse(`${key}T12:00:00Z`) - DAY_MS).toISOString().slice(0, 10);
}

/** "Today", "Yesterday", else the date ("Monday 30 November", with the year if not this one). */
export function dayLabel(ts, now, { locale, timeZone } = {}) {
  const day = dayKey(ts, { timeZone });
  const today = dayKey(now, { timeZone });
  if (day === today) return "Today";
  if (day === previousDay(today)) return "Yesterday";
  const options = { timeZone, weekday: "long", day: "numeric", month: "long" };
  if (day.slice(0, 4) !== today.slice(0, 4)) options.year = "numeric";
  return new Intl.DateTimeFormat(locale, options).format(new Date(ts));
}

/** A message's time of day: "14:05" or "2:05 PM", as the reader's locale writes it. */
export function formatClock(ts, { locale, timeZone } = {}) {
  return new Intl.DateTimeFormat(locale, { timeZone, hour: "numeric", minute: "2-digit" }).format(
    new Date(ts),
  );
}

/** The full date and time, for a tooltip. */
export function formatFull(ts, { locale, timeZone } = {}) {
  return new Intl.DateTimeFormat(locale, { timeZone, dateStyle: "full", timeStyle: "short" }).format(
    new Date(ts),
  );
}

/** True when an item at `ts` starts a new day after an item at `previousTs` (or none). */
export function startsDay(previousTs, ts, { timeZone } = {}) {
  return previousTs === null || dayKey(previousTs, { timeZone }) !== dayKey(ts, { timeZone });
}
