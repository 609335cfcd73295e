// The chat page: one Socket.IO connection for every room on the page. Room state and
// de-duplication live in store.js, the DOM in view.js, room actions in rooms.js; this
// module connects, routes socket events, and wires the forms.

import { byId, setFieldError } from "./dom.js";
import { loadName } from "./prefs.js";
import { errorText, replyErrorText, request } from "./rpc.js";
import { RoomController } from "./rooms.js";
import { ChatStore, Status, isMessage } from "./store.js";
import { checkName, checkRoom, checkText } from "./text.js";
import { TypingNotifier } from "./typing.js";
import { ChatView } from "./view.js";

const TYPING_REFRESH_MS = 1000;

const body = document.body;
const limits = {
  maxText: Number.parseInt(body.dataset.maxText, 10) || 2000,
  maxName: Number.parseInt(body.dataset.maxName, 10) || 32,
};
const store = new ChatStore();
const view = new ChatView({
  onSwitch: (room) => rooms.switchRoom(room),
  onLeave: (room) => leaveAndRefocus(room),
});
const typing = new TypingNotifier((room, isTyping) => {
  // Typing is a hint: a failure is not worth an error line.
  if (socket?.connected) request(socket, "typing", { room, typing: isTyping });
});
const rooms = new RoomController({ store, view, typing, limits });
let socket = null;

// ---- user actions -----------------------------------------------------------------------

async function sendMessage() {
  const state = store.activeRoom;
  if (!state) return;
  const raw = view.composerText;
  const check = checkText(raw, limits.maxText);
  if (check.empty) return;
  if (!check.ok) {
    view.showError(errorText(check.code, limits), check.code, state.room);
    return;
  }
  if (!state.joined) {
    // The box is read-only then, but Enter still lands here.
    if (state.status === Status.NEEDS_NAME) byId("name-input").focus();
    else view.showError(`Not in #${state.room} yet; nothing was sent.`, "unavailable", state.room);
    return;
  }
  typing.stop();
  view.setComposerText("");
  const reply = await request(socket, "send_message", { room: state.room, text: raw });
  if (reply.ok) {
    view.clearError();
    return;
  }
  const { error } = reply;
  // A refused message changed nothing, so hand the text back; an unanswered one may
  // have been stored, and handing it back would invite a double send.
  if (!error.lost && view.composerText === "") view.setComposerText(raw);
  const text = error.lost
    ? "No answer from the server. If your message does not appear once reconnected, send it again."
    : replyErrorText(error, limits);
  view.showError(text, error.code, state.room);
  if (error.code === "not_in_room" && !error.lost && store.get(state.room) === state) {
    state.goOffline();
    rooms.joinRoom(state);
  }
}

async function leaveAndRefocus(room) {
  if (!(await rooms.leaveRoom(room))) return;
  const next =
    store.active === null
      ? byId("join-room-input")
      : document.querySelector(".room-tab.is-active .room-switch");
  next?.focus();
}

// ---- socket events ----------------------------------------------------------------------

function roomOf(payload) {
  if (!payload || typeof payload.room !== "string") return null;
  return store.get(payload.room.toLowerCase());
}

function onDisconnect(reason) {
  view.setConnection("disconnected");
  rooms.dropAll();
  // socket.io does not reconnect by itself after the server closed the socket (a
  // draining node does that so that its clients move to another node).
  if (reason === "io server disconnect") {
    setTimeout(() => socket.connect(), 500 + Math.random() * 1000);
  }
}

function onMessage(message) {
  if (!isMessage(message)) return;
  const state = roomOf(message);
  if (!state) return;
  const result = state.receive(message);
  if (result === "held" || result === "duplicate") return;
  rooms.showEntries(state, [result], true);
  if (state.room === store.active) rooms.refreshTyping();
}

function onMembership(payload, joined) {
  const state = roomOf(payload);
  if (!state || typeof payload.name !== "string") return;
  const changed = joined ? state.addMember(payload.name) : state.removeMember(payload.name);
  if (!changed) return;
  if (state.joined) {
    const ts = Number.isInteger(payload.ts) ? payload.ts : Date.now();
    const verb = joined ? "joined" : "left";
    rooms.notice(state, `${payload.name} ${verb}`, verb, ts);
  }
  if (state.room === store.active) rooms.refreshActive();
}

function onTyping(payload) {
  const state = roomOf(payload);
  if (!state || typeof payload.name !== "string" || typeof payload.typing !== "boolean") return;
  state.setTyping(payload.name, payload.typing, Date.now());
  if (state.room === store.active) rooms.refreshTyping();
}

function connect() {
  if (typeof globalThis.io !== "function") {
    view.setConnection("disconnected", "Offline");
    view.showError("The chat client could not be loaded. Reload the page to try again.", "internal");
    return;
  }
  socket = globalThis.io({
    transports: ["websocket", "polling"],
    tryAllTransports: true, // fall back to long-polling where WebSocket is blocked
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
  rooms.socket = socket;
  socket.on("connect", () => {
    view.setConnection("connected");
    rooms.joinAll();
  });
  socket.on("disconnect", onDisconnect);
  socket.on("connect_error", () => {
    view.setConnection("disconnected");
    // `active` is false when the server refused us outright; keep trying, slowly.
    if (!socket.active) setTimeout(() => socket.connect(), 5000);
  });
  socket.io.on("reconnect_attempt", () => view.setConnection("connecting"));
  socket.on("message", onMessage);
  socket.on("user_joined", (payload) => onMembership(payload, true));
  socket.on("user_left", (payload) => onMembership(payload, false));
  socket.on("typing", onTyping);
}

// ---- forms ------------------------------------------------------------------------------

function wireComposer() {
  const composer = byId("composer");
  const textBox = byId("text");
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage();
  });
  textBox.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    composer.requestSubmit();
  });
  textBox.addEventListener("input", () => {
    view.fitComposer();
    const state = store.activeRoom;
    if (state?.joined) typing.input(state.room, textBox.value.trim() !== "");
  });
  textBox.addEventListener("blur", () => typing.stop());
}

function wireNameForm() {
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

function wireJoinForm() {
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

function start() {
  // A name in the address wins over the remembered one, even when it must be fixed.
  const urlName = (body.dataset.name ?? "").trim();
  const fromUrl = checkName(urlName, limits.maxName);
  const remembered = checkName(loadName(), limits.maxName);
  if (urlName) store.defaultName = fromUrl.ok ? fromUrl.name : "";
  else store.defaultName = remembered.ok ? remembered.name : "";
  wireComposer();
  wireNameForm();
  wireJoinForm();
  const first = checkRoom(body.dataset.room);
  if (first.ok) {
    const state = rooms.addRoom(first.room);
    rooms.switchRoom(first.room);
    if (state.status === Status.NEEDS_NAME) {
      rooms.askForName(state, urlName && !fromUrl.ok ? fromUrl.error : "", urlName);
    }
  } else {
    view.showRoom(null);
    rooms.refreshActive();
  }
  connect();
  setInterval(() => rooms.refreshTyping(), TYPING_REFRESH_MS);
}

start();
