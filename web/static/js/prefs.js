// What the pages remember: the last display name used (localStorage), and the rooms this
// tab has already said "You joined" in (sessionStorage, so a reload does not repeat it).
// Storage can be absent or refuse (private windows, quotas, disabled cookies); the pages
// then simply do not remember.

import { tabStorage } from "./token.js";

const NAME_KEY = "chat.name";

export function loadName() {
  try {
    return globalThis.localStorage?.getItem(NAME_KEY) ?? "";
  } catch {
    return "";
  }
}

export function saveName(name) {
  try {
    globalThis.localStorage?.setItem(NAME_KEY, name);
  } catch {
    // Not remembering the name is harmless.
  }
}

const JOINED_KEY = "chat.joined"; // rooms this tab said "You joined" in (sessionStorage)

/** True the first time this tab joins `room` as `name`; reloads of the tab say false. */
export function firstJoinInTab(room, name) {
  const storage = tabStorage();
  const key = `${room}\n${name}`;
  try {
    const seen = JSON.parse(storage?.getItem(JOINED_KEY) ?? "[]");
    const list = Array.isArray(seen) ? seen : [];
    if (list.includes(key)) return false;
    storage?.setItem(JOINED_KEY, JSON.stringify([...list, key].slice(-50)));
  } catch {
    // Without storage every load says it: the old behaviour, harmless.
  }
  return true;
}
