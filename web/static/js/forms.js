// The chat page's forms: the message box (Enter sends, Shift+Enter breaks the line), the
// name form shown when a name is needed or taken, and "join another room".

import { byId, setFieldError } from "./dom.js";
import { Status } from "./store.js";
import { checkName, checkRoom } from "./text.js";

function wireComposer({ store, view, typing, onSend, onInput, edits, completer }) {
  const composer = byId("composer");
  const textBox = byId("text");
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    onSend();
  });
  textBox.addEventListener("keydown", (event) => {
    if (event.isComposing) return;
    if (completer?.key(event)) {
      event.preventDefault();
      return;
    }
    if (event.key === "Escape" && edits?.mode) {
      event.preventDefault();
      edits.cancel();
      return;
    }
    // Up arrow in an empty box edits the user's last message, as chat apps do.
    if (event.key === "ArrowUp" && textBox.value === "" && edits?.editLast()) {
      event.preventDefault();
      return;
    }
    if (event.key !== "Enter" || event.shiftKey) return;
    event.preventDefault();
    composer.requestSubmit();
  });
  textBox.addEventListener("input", () => {
    view.fitComposer();
    onInput();
    completer?.update();
    const state = store.activeRoom;
    if (state?.joined) typing.input(state.room, textBox.value.trim() !== "");
  });
  textBox.addEventListener("blur", () => typing.stop());
}

function wireNameForm({ store, view, rooms, limits }) {
  const nameInput = byId("name-input");
  byId("name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const state = store.activeRoom;
    if (!state) return;
    const check = checkName(nameInput.value, limits.maxName);
    if (!check.ok) {
      setFieldError(nameInput, byId("name-form-error"), check.error);
      nameInput.focus();
      return;
    }
    store.defaultName = check.name;
    state.name = check.name;
    state.status = Status.NEW;
    if (view.errorRoom === state.room) view.clearError();
    rooms.refreshRoom(state);
    byId("text").focus();
    rooms.joinRoom(state);
  });
}

function wireJoinForm({ store, view, rooms }) {
  const joinInput = byId("join-room-input");
  byId("join-room-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const check = checkRoom(joinInput.value);
    setFieldError(joinInput, byId("join-room-error"), check.ok ? "" : check.error);
    if (!check.ok) {
      joinInput.focus();
      return;
    }
    joinInput.value = "";
    const known = store.get(check.room) !== null;
    const state = rooms.addRoom(check.room);
    rooms.switchRoom(check.room);
    if (!known && state.status === Status.NEW) rooms.joinRoom(state);
    view.drawer.close({ focusToggle: false });
    byId("text").focus();
  });
}

/** Wires every form; `onSend` submits the message box, `onInput` follows its text. */
export function wireForms(context) {
  wireComposer(context);
  wireNameForm(context);
  wireJoinForm(context);
}
