// The chat page's tools around the conversation, wired together: version 3 changes and
// read positions (edits.js), message actions (actions.js), alerts, the moderator's
// dialog, the room browser and @mention completion. chat.js makes one set per page.

import { wireMessageActions } from "./actions.js";
import { Alerts } from "./alerts.js";
import { MentionCompleter } from "./complete.js";
import { byId } from "./dom.js";
import { EditController } from "./edits.js";
import { ModerationDialog } from "./moderation.js";
import { sameName } from "./names.js";
import { RoomBrowser } from "./roombrowser.js";
import { Status } from "./store.js";

/**
 * `socket()` is the connected socket or null; `allowedRooms()` the token's rooms (or
 * null). Returns `{edits, moderation, browser, completer}`.
 */
export function wireFeatures({ store, view, rooms, limits, storage, socket, allowedRooms }) {
  const edits = new EditController({ store, view, rooms, limits });
  rooms.edits = edits;
  rooms.attention.alerts = new Alerts(storage);
  rooms.attention.onShown = () => edits.seen();

  /** Opens a room of the page, joining it first if it is new or was left by force. */
  const openRoom = (room) => {
    const known = store.get(room) !== null;
    const state = rooms.addRoom(room);
    rooms.switchRoom(room);
    if (state.status === Status.REMOVED) rooms.rejoinRemoved(state);
    else if (!known && state.status === Status.NEW) rooms.joinRoom(state);
    view.drawer.close({ focusToggle: false });
    byId("text").focus();
  };

  const moderation = new ModerationDialog({
    store,
    limits,
    socket,
    onDone: (text) => {
      const state = store.activeRoom;
      if (state) rooms.notice(state, text, "moderation", Date.now());
    },
  });
  const browser = new RoomBrowser({ store, socket, allowed: allowedRooms, onJoin: openRoom });
  rooms.onForbidden = () => {
    view.drawer.open();
    browser.show();
  };
  const completer = new MentionCompleter(() => {
    const state = store.activeRoom;
    if (!state) return [];
    return state.members.filter((name) => !sameName(name, rooms.nameFor(state)));
  });
  wireMessageActions(byId("messages"), {
    reply: (where) => edits.startReply(where),
    edit: (where) => edits.startEdit(where),
    react: (where) => edits.react(where),
    remove: (where) => edits.remove(where),
    jump: (where) => edits.jump(where),
  });
  return { edits, moderation, browser, completer };
}
