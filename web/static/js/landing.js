// The landing page: pick a name and a room, or join one of the active rooms. With
// identity on there is no name to pick (the token names the user) and the room list is
// asked for with the token (token.js).

import { byId, h, setFieldError } from "./dom.js";
import { loadName, saveName } from "./prefs.js";
import { checkName, checkRoom } from "./text.js";
import { pageTokens } from "./token.js";

const REFRESH_MS = 5000;

const maxName = Number.parseInt(document.body.dataset.maxName, 10) || 32;
const form = byId("join-form");
// Absent with identity on: the token names the user.
const nameInput = document.getElementById("name");
const roomInput = byId("room");
const nameError = document.getElementById("name-error");
const roomError = byId("room-error");
const roomList = byId("active-rooms");
const roomStatus = byId("active-rooms-status");
const tokens = pageTokens(document.body, location, history);

function openRoom(room, name) {
  if (tokens !== null) {
    location.assign(`/rooms/${encodeURIComponent(room)}`); // the token stays in this tab
    return;
  }
  saveName(name);
  location.assign(`/rooms/${encodeURIComponent(room)}?name=${encodeURIComponent(name)}`);
}

function checkNameField() {
  if (nameInput === null) return { ok: true, name: "" }; // identity on: the token's name
  const check = checkName(nameInput.value, maxName);
  setFieldError(nameInput, nameError, check.ok ? "" : check.error);
  return check;
}

function checkRoomField() {
  const check = checkRoom(roomInput.value);
  setFieldError(roomInput, roomError, check.ok ? "" : check.error);
  return check;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = checkNameField();
  const room = checkRoomField();
  if (!name.ok) nameInput.focus();
  else if (!room.ok) roomInput.focus();
  else openRoom(room.room, name.name);
});

// Errors go away as soon as the field is fixed, not only on the next submit.
nameInput?.addEventListener("input", () => {
  if (nameInput.hasAttribute("aria-invalid")) checkNameField();
});
roomInput.addEventListener("input", () => {
  if (roomInput.hasAttribute("aria-invalid")) checkRoomField();
});

roomList.addEventListener("click", (event) => {
  const button = event.target.closest("[data-join-room]");
  if (!button) return;
  const room = button.dataset.joinRoom;
  const name = checkNameField();
  if (name.ok) {
    openRoom(room, name.name);
    return;
  }
  roomInput.value = room;
  setFieldError(roomInput, roomError, "");
  setFieldError(nameInput, nameError, `${name.error} Then join #${room}.`);
  nameInput.focus();
});

function setStatus(text) {
  if (roomStatus.textContent !== text) roomStatus.textContent = text;
}

function isRoomEntry(entry) {
  return (
    entry !== null &&
    typeof entry === "object" &&
    typeof entry.room === "string" &&
    Number.isInteger(entry.members) &&
    checkRoom(entry.room).ok
  );
}

function renderRooms(rooms) {
  const focused = document.activeElement?.dataset?.joinRoom ?? null;
  roomList.replaceChildren(
    ...rooms.map(({ room, members }) =>
      h(
        "li",
        { className: "active-room", data: { activeRoom: room } },
        h("span", { className: "active-room-name", text: `#${room}` }),
        h("span", {
          className: "active-room-count",
          text: members === 1 ? "1 member" : `${members} members`,
        }),
        h("button", {
          className: "button",
          text: "Join",
          attrs: { type: "button", "aria-label": `Join #${room}` },
          data: { joinRoom: room },
        }),
      ),
    ),
  );
  // Refreshing must not throw a keyboard user's focus back to the top of the page.
  if (focused !== null) {
    roomList.querySelector(`[data-join-room="${CSS.escape(focused)}"]`)?.focus();
  }
  if (rooms.length === 0) setStatus("No active rooms right now. Start one with the form above.");
  else setStatus(rooms.length === 1 ? "1 active room" : `${rooms.length} active rooms`);
}

async function refreshRooms() {
  const headers = { Accept: "application/json" };
  if (tokens !== null) {
    const token = await tokens.get();
    if (token === null) {
      setStatus("Sign in through your application to see the rooms you may join.");
      return;
    }
    headers.Authorization = `Bearer ${token}`;
  }
  try {
    const response = await fetch("/api/rooms", { headers, cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    const rooms = Array.isArray(data?.rooms) ? data.rooms.filter(isRoomEntry) : [];
    renderRooms(rooms);
  } catch {
    setStatus("Could not load the active rooms; retrying…");
  }
}

function start() {
  if (nameInput !== null && !nameInput.value) nameInput.value = loadName();
  (nameInput === null || nameInput.value ? roomInput : nameInput).focus();
  refreshRooms();
  setInterval(() => {
    if (!document.hidden) refreshRooms();
  }, REFRESH_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refreshRooms();
  });
}

start();
