// The chat page: one Socket.IO connection for every room on the page. Room state and
// de-duplication live in store.js, the DOM in view.js, room actions in rooms.js, the
// outbox in outbox.js and sender.js, the forms in forms.js, the signed-in user (identity
// on) in session.js and token.js, version 3 changes, alerts, moderation and the room
// browser in features.js; this module connects, routes socket events and keeps the
// connection status truthful.

import { ChatStore } from "./chatstore.js";
import { byId } from "./dom.js";
import { wireFeatures } from "./features.js";
import { wireForms } from "./forms.js";
import { loadKey, newClientId } from "./identity.js";
import { sameName } from "./names.js";
import { OUTBOX_KEY, Outbox } from "./outbox.js";
import { loadName } from "./prefs.js";
import { errorText, request, requestHooks } from "./rpc.js";
import { RoomController } from "./rooms.js";
import { Sender } from "./sender.js";
import { Session } from "./session.js";
import { AckWatch, ConnectionStatus } from "./status.js";
import { Status, isMessage } from "./store.js";
import { checkName, checkRoom, checkText, textCounter } from "./text.js";
import { pageTokens } from "./token.js";
import { TypingNotifier } from "./typing.js";
import { ChatView } from "./view.js";

const TICK_MS = 1000; // typing expiry, the slow hint
const PROBE_MS = 3000; // while the service is unavailable, ask whether it is back
const DAY_LABEL_MS = 60_000;
const CONNECT_TIMEOUT_MS = 8000;

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // some browsers throw on access when storage is disabled
  }
}

const body = document.body;
// Identity on: null until start() has a token; the token's claims name the user.
const tokens = pageTokens(body, location, history);
const limits = {
  maxText: Number.parseInt(body.dataset.maxText, 10) || 2000,
  maxName: Number.parseInt(body.dataset.maxName, 10) || 32,
};
const store = new ChatStore();
const status = new ConnectionStatus();
const acks = new AckWatch();
const view = new ChatView({
  onSwitch: (room) => rooms.switchRoom(room),
  onLeave: (room) => leaveAndRefocus(room),
  onRetry: (clientId) => sender.retry(clientId),
  onDiscard: (clientId) => {
    sender.discard(clientId);
    byId("text").focus();
  },
  failedText: (code) => `Not sent: ${errorText(code, limits)}`,
  context: (room) => rooms.messageContext(room),
  onOlder: (room) => {
    const state = store.get(room);
    if (state) edits.loadOlder(state);
  },
  onSeen: () => edits.seen(),
  onModerate: (name) => moderation.open(name),
});
const typing = new TypingNotifier((room, isTyping) => {
  // Typing is a hint: a failure is not worth an error line.
  if (socket?.connected) request(socket, "typing", { room, typing: isTyping });
});
const rooms = new RoomController({
  store,
  view,
  typing,
  limits,
  key: tokens === null ? loadKey(storage()) : null, // with a token, its `sub` is the user
});
let sender = null; // made by start(), once the user (and so the outbox) is known
let socket = null;
const { edits, moderation, completer } = wireFeatures({
  store,
  view,
  rooms,
  limits,
  storage: storage(),
  socket: () => (socket?.connected ? socket : null),
  allowedRooms: () => session.who?.rooms ?? null,
});
const session = new Session({ tokens, body, store, rooms, view });

function makeSender() {
  // One outbox per signed-in user: another account on this browser never sends them.
  const { who } = session;
  const key = who === null ? OUTBOX_KEY : `${OUTBOX_KEY}.${who.sub}`;
  return new Sender({
    store,
    view,
    outbox: new Outbox(storage(), key),
    newId: () => newClientId(),
    deliver: (message) => onMessage(message),
    rejoin: (state) => {
      state.goOffline();
      rooms.joinRoom(state);
    },
  });
}

// ---- connection status ------------------------------------------------------------------

function refreshStatus() {
  if (session.signedOut) return; // "Signed out" stays until the page is opened again
  view.setConnection(status.view(acks.overdue(Date.now()), sender?.outbox.size ?? 0));
}

status.setOnline(globalThis.navigator?.onLine);
for (const event of ["online", "offline"]) {
  globalThis.addEventListener?.(event, () => {
    status.setOnline(globalThis.navigator?.onLine);
    refreshStatus();
    // Back online: do not wait for socket.io's backoff to try again.
    if (event === "online" && socket && !socket.connected && !session.signedOut) socket.connect();
  });
}

// The tick re-checks overdue answers, so an answer that never comes shows as slow.
requestHooks.started = () => acks.start(Date.now());
requestHooks.settled = (token, reply) => {
  acks.end(token);
  const wasUnavailable = status.unavailable;
  status.answered(reply);
  refreshStatus();
  if (wasUnavailable && !status.unavailable) {
    // The service is back: do not leave rooms and messages waiting for their backoff.
    rooms.retryFailed();
    sender.pumpAll();
  }
};

function probeService() {
  if (!status.unavailable || !socket?.connected) return;
  const now = Date.now();
  if (status.shouldMove(now)) {
    // Only `unavailable` for a while, Redis not full: this node may be cut off from Redis
    // while others are fine. A new connection goes through the balancer, which routes
    // around a node whose /readyz fails; the outbox sends again once joined.
    status.moved(now);
    socket.disconnect();
    socket.connect();
    return;
  }
  request(socket, "list_rooms", {});
}

// ---- user actions -----------------------------------------------------------------------

function sendMessage() {
  const state = store.activeRoom;
  if (!state) return;
  const raw = view.composerText;
  if (edits.editing) {
    edits.submitEdit(raw);
    return;
  }
  const check = checkText(raw, limits.maxText);
  if (check.empty) return;
  if (!check.ok) {
    view.showError(errorText(check.code, limits), check.code, state.room);
    return;
  }
  if (state.status === Status.NEEDS_NAME) {
    byId("name-input").focus();
    return;
  }
  typing.stop();
  view.setComposerText("");
  refreshCounter();
  if (view.errorRoom === state.room && view.errorCode !== null) view.clearError();
  // Queued whatever the connection: the outbox sends it as soon as the room can take it.
  sender.submit(state, check.text, edits.takeReply(state.room));
  view.pane(state.room)?.scrollToBottom();
}

function refreshCounter() {
  view.setCounter(textCounter(view.composerText, limits.maxText));
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
  status.disconnected();
  acks.clear();
  refreshStatus();
  rooms.dropAll();
  sender.connectionLost();
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
  sender.settle(state, message);
  const result = state.receive(message);
  // A server that does not repeat client_id in events: the ack's copy names the element.
  if (result === "duplicate") view.pane(state.room)?.tagClientId(message);
  if (result === "held" || result === "duplicate") return;
  rooms.showEntries(state, [result], true);
  if (sameName(message.name, rooms.nameFor(state))) edits.refreshSeenBy(state);
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
    view.setConnection({ state: "disconnected", label: "Offline" });
    view.showError("The chat client could not be loaded. Reload the page to try again.", "internal");
    return;
  }
  socket = globalThis.io({
    // Identity on: every (re)connection asks for a token, fresh from the token URL once
    // the stored one expired (the node closes the connection at its expiry).
    auth: tokens === null ? undefined : (cb) => tokens.get().then((token) => cb({ token: token ?? "" })),
    transports: ["websocket", "polling"],
    tryAllTransports: true, // fall back to long-polling where WebSocket is blocked
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    // An attempt on a dead path hangs until this (default 20 s): after an outage the
    // page would wait that long before trying the path that works again.
    timeout: CONNECT_TIMEOUT_MS,
  });
  rooms.socket = socket;
  sender.socket = socket;
  edits.socket = socket;
  socket.on("connect", () => {
    if (view.errorCode === "unauthorized") view.clearError();
    status.connected();
    refreshStatus();
    rooms.joinAll();
  });
  socket.on("disconnect", onDisconnect);
  socket.on("connect_error", (err) => {
    if (tokens !== null && err?.data?.code === "unauthorized") {
      tokens.forget();
      if (!tokens.url) {
        // Only the application can give a new token: retrying would fail the same way.
        session.signOut("Your sign-in has expired. Open the chat again from your application.");
        return;
      }
      view.showError(
        "Your sign-in could not be renewed. Sign in to your application again; retrying…",
        "unauthorized",
      );
    }
    // While socket.io keeps retrying by itself the page is reconnecting, not offline.
    if (socket.active) status.connecting();
    else status.disconnected();
    refreshStatus();
    // `active` is false when the server refused us outright; keep trying, slowly.
    if (!socket.active) setTimeout(() => socket.connect(), 5000);
  });
  socket.io.on("reconnect_attempt", () => {
    status.connecting();
    refreshStatus();
  });
  socket.on("message", onMessage);
  socket.on("user_joined", (payload) => onMembership(payload, true));
  socket.on("user_left", (payload) => onMembership(payload, false));
  socket.on("typing", onTyping);
  socket.on("message_updated", (message) => edits.onUpdated(message));
  socket.on("read", (payload) => edits.onRead(payload));
  socket.on("kicked", (payload) => {
    const state = roomOf(payload);
    if (state) rooms.removed(state, payload);
  });
}

function pickName() {
  // A name in the address wins over the remembered one, even when it must be fixed.
  const urlName = (body.dataset.name ?? "").trim();
  const fromUrl = checkName(urlName, limits.maxName);
  const remembered = checkName(loadName(), limits.maxName);
  if (urlName) store.defaultName = fromUrl.ok ? fromUrl.name : "";
  else store.defaultName = remembered.ok ? remembered.name : "";
  return { urlName, fromUrl };
}

async function start() {
  let urlName = "";
  let fromUrl = null;
  if (tokens === null) ({ urlName, fromUrl } = pickName());
  else if (!(await session.signIn())) return;
  sender = makeSender();
  rooms.sender = sender;
  wireForms({ store, view, rooms, typing, limits, edits, completer, onSend: sendMessage, onInput: refreshCounter });
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
  // Messages left unsent in other rooms (an earlier page, another tab) are sent too.
  for (const { room } of sender.outbox.entries.values()) {
    if (checkRoom(room).ok && store.get(room) === null) rooms.addRoom(room);
  }
  refreshStatus();
  connect();
  setInterval(() => {
    rooms.refreshTyping();
    refreshStatus();
  }, TICK_MS);
  setInterval(probeService, PROBE_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      rooms.attention.pageShown();
      edits.seen();
    }
  });
  setInterval(() => view.relabelDays(), DAY_LABEL_MS);
}

start();
