// The last display name used, kept in localStorage. Storage can be absent or refuse
// (private windows, quotas, disabled cookies); the pages then simply do not remember.

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
