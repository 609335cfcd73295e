// The comparison peer: the subset of the chat protocol that `chat-tools bench` uses
// (join, leave, send_message, /healthz), served by Node socket.io + the Redis adapter.
//
// Same cluster design as the Python service: one Lua script allocates the id, appends
// to the history and publishes to the room's channel; every node subscribes and
// delivers chat messages from the subscription to its local sockets. Presence events
// (user_joined / user_left) go through @socket.io/redis-adapter.
// No rate limit (the bench runs ours with CHAT_RATE_LIMIT=0 to match).
//
// Environment: PORT [3000], HOST [127.0.0.1], REDIS_URL [redis://127.0.0.1:6379/0],
// KEY_PREFIX [peer:] (every key and channel carries it, so a Redis can be shared).
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient, defineScript } = require("redis");

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || "127.0.0.1";
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379/0";
const P = process.env.KEY_PREFIX || "peer:";
const HISTORY_SIZE = 100;
const HISTORY_ON_JOIN = 50;
const MAX_TEXT = 2000;
const ROOM_RE = /^[A-Za-z0-9_-]{1,32}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;

const keys = {
  seq: (room) => `${P}room:${room}:seq`,
  history: (room) => `${P}room:${room}:history`,
  names: (room) => `${P}room:${room}:names`,
  channel: (room) => `${P}msg:${room}`,
};

// KEYS: seq, history, channel. ARGV: JSON before the id, JSON after the id, history size.
const appendMessage = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: `
    local id = redis.call('INCR', KEYS[1])
    local msg = ARGV[1] .. id .. ARGV[2]
    redis.call('RPUSH', KEYS[2], msg)
    redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
    redis.call('PUBLISH', KEYS[3], msg)
    return id`,
  transformArguments(room, head, tail) {
    return [keys.seq(room), keys.history(room), keys.channel(room), head, tail, String(HISTORY_SIZE)];
  },
  transformReply(reply) {
    return Number(reply);
  },
});

const fail = (code, message) => ({ ok: false, error: { code, message } });

function checkRoom(payload) {
  if (typeof payload !== "object" || payload === null || typeof payload.room !== "string") {
    return [null, fail("bad_request", "The payload needs a room.")];
  }
  if (!ROOM_RE.test(payload.room)) return [null, fail("invalid_room", "That room name is not allowed.")];
  return [payload.room.toLowerCase(), null];
}

function checkName(raw) {
  if (typeof raw !== "string") return [null, fail("bad_request", "The payload needs a name.")];
  const name = raw.trim();
  if (name.length < 1 || name.length > 32 || CONTROL_RE.test(name)) {
    return [null, fail("invalid_name", "That display name is not allowed.")];
  }
  return [name, null];
}

async function main() {
  const redis = createClient({ url: REDIS_URL, scripts: { appendMessage } });
  const adapterSub = redis.duplicate();
  const chatSub = redis.duplicate();
  let lastError = "";
  const logError = (err) => {
    if (err.message !== lastError) console.error("redis:", (lastError = err.message));
  };
  for (const client of [redis, adapterSub, chatSub]) client.on("error", logError);
  await Promise.all([redis.connect(), adapterSub.connect(), chatSub.connect()]);

  const server = http.createServer((req, res) => {
    if (req.url === "/healthz" || req.url === "/readyz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"status":"ok"}');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  const io = new Server(server, { transports: ["websocket", "polling"] });
  io.adapter(createAdapter(redis, adapterSub, { key: `${P}socket.io` }));

  const channelPrefix = keys.channel("");
  await chatSub.pSubscribe(`${channelPrefix}*`, (message, channel) => {
    io.local.to(channel.slice(channelPrefix.length)).emit("message", JSON.parse(message));
  });

  async function history(room, since) {
    const raw = await redis.lRange(keys.history(room), typeof since === "number" ? 0 : -HISTORY_ON_JOIN, -1);
    const all = raw.map((item) => JSON.parse(item));
    if (typeof since !== "number") return all;
    const newer = all.filter((m) => m.id > since);
    const newest = all.length ? all[all.length - 1].id : 0;
    return since > newest ? all.slice(-HISTORY_ON_JOIN) : newer;
  }

  async function release(socket, room) {
    const name = socket.data.rooms.get(room);
    socket.data.rooms.delete(room);
    socket.leave(room);
    await redis.hDel(keys.names(room), name.toLowerCase());
    socket.to(room).emit("user_left", { room, name, ts: Date.now() });
  }

  async function join(socket, payload) {
    const [room, roomErr] = checkRoom(payload);
    if (roomErr) return roomErr;
    const [name, nameErr] = checkName(payload.name);
    if (nameErr) return nameErr;
    const since = payload.since;
    if (since !== undefined && !Number.isInteger(since)) return fail("bad_request", "since must be an integer.");
    const held = socket.data.rooms.get(room);
    const again = held !== undefined && held.toLowerCase() === name.toLowerCase();
    if (held !== undefined && !again) await release(socket, room);
    if (!again && !(await redis.hSetNX(keys.names(room), name.toLowerCase(), name))) {
      return fail("name_taken", "Someone in this room already uses that name.");
    }
    const [members, messages] = await Promise.all([redis.hVals(keys.names(room)), history(room, since)]);
    if (!again) {
      socket.data.rooms.set(room, name);
      socket.to(room).emit("user_joined", { room, name, ts: Date.now() });
      socket.join(room);
    }
    return { ok: true, room, name, members: members.sort(), history: messages };
  }

  async function sendMessage(socket, payload) {
    const [room, roomErr] = checkRoom(payload);
    if (roomErr) return roomErr;
    if (typeof payload.text !== "string") return fail("bad_request", "The payload needs a text.");
    const name = socket.data.rooms.get(room);
    if (name === undefined) return fail("not_in_room", "Join the room first.");
    const text = payload.text.trim();
    if (text.length === 0) return fail("invalid_text", "The message is empty.");
    if (text.length > MAX_TEXT) return fail("message_too_long", "The message is too long.");
    const ts = Date.now();
    const tail = `,"room":${JSON.stringify(room)},"name":${JSON.stringify(name)},"text":${JSON.stringify(text)},"ts":${ts}}`;
    const id = await redis.appendMessage(room, '{"id":', tail);
    return { ok: true, message: { id, room, name, text, ts } };
  }

  async function leave(socket, payload) {
    const [room, roomErr] = checkRoom(payload);
    if (roomErr) return roomErr;
    if (!socket.data.rooms.has(room)) return fail("not_in_room", "You are not in that room.");
    await release(socket, room);
    return { ok: true, room };
  }

  const handlers = { join, leave, send_message: sendMessage };
  io.on("connection", (socket) => {
    socket.data.rooms = new Map();
    for (const [event, handler] of Object.entries(handlers)) {
      socket.on(event, (payload, ack) => {
        if (typeof ack !== "function") return;
        handler(socket, payload).then(ack, (err) => {
          console.error(`${event}:`, err);
          ack(fail(redis.isReady ? "internal" : "unavailable", "The server could not do that."));
        });
      });
    }
    socket.on("disconnect", () => {
      for (const room of [...socket.data.rooms.keys()]) {
        release(socket, room).catch((err) => console.error("disconnect:", err.message));
      }
    });
  });

  const shutdown = () => {
    io.close();
    Promise.allSettled([redis.quit(), adapterSub.quit(), chatSub.quit()]).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  server.listen(PORT, HOST, () => console.log(`node peer on http://${HOST}:${PORT} (redis ${REDIS_URL}, prefix ${P})`));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
