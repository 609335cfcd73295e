"""Property: any interleaving of joins, leaves, kicks, bans, unbans and time gives the same
answers on the memory backend and on Redis (fakeredis), step by step."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import fakeredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_service.backends.base import BanOrder, NameTaken, Store
from chat_service.backends.memory import MemoryBus, MemoryStore
from chat_service.backends.redis import RedisStore
from chat_service.errors import Banned

USERS = ["kA", "kB", "kC"]
NAMES = ["Ann", "ann", "Bob"]
SIDS = ["s1", "s2", "s3", "s4"]
KICKED = '{"room":"r","by":"Mod"}'

steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("join"), st.sampled_from(USERS), st.sampled_from(NAMES), st.sampled_from(SIDS)
        ),
        st.tuples(st.just("leave"), st.sampled_from(SIDS), st.booleans()),
        st.tuples(st.just("kick"), st.sampled_from(NAMES)),
        st.tuples(
            st.just("ban"),
            st.sampled_from(NAMES + USERS),
            st.one_of(st.none(), st.integers(1, 5)),
        ),
        st.tuples(st.just("unban"), st.sampled_from(NAMES + USERS)),
        st.tuples(st.just("wait"), st.integers(1, 4)),
        st.tuples(st.just("sweep")),
    ),
    max_size=25,
)


async def apply(store: Store, step: tuple[Any, ...], now: int) -> Any:
    """One step's observable answer."""
    kind = step[0]
    if kind == "join":
        _, user, name, sid = step
        try:
            result = await store.join("r", user, name, sid, None, None, now, 50)
        except NameTaken:
            return "taken"
        except Banned as exc:
            return ("banned", exc.until)
        return (result.name, result.seated, result.announced)
    if kind == "leave":
        departure = await store.leave("r", step[1], now, grace=step[2])
        return None if departure is None else (departure.name, departure.gone)
    if kind == "kick":
        return await store.moderate("r", now, KICKED, None, name_key=step[1].casefold())
    if kind == "ban":
        target, length = step[1], step[2]
        order = BanOrder(None if length is None else now + length * 1000, "Mod", None)
        if target in USERS:
            return await store.moderate("r", now, KICKED, order, user=target)
        return await store.moderate("r", now, KICKED, order, name_key=target.casefold())
    if kind == "unban":
        if step[1] in USERS:
            return await store.unban("r", now, user=step[1])
        return await store.unban("r", now, name=step[1])
    if kind == "sweep":
        return await store.expire_lingering(now)
    return None


async def observe(store: Store, now: int, seats: dict[str, str]) -> Any:
    bans = [(b.user, b.name, b.until) for b in await store.bans("r", now)]
    missed = sorted((await store.missed_kicks("r", seats)).items(), key=repr)
    return sorted(await store.members("r")), sorted(bans, key=repr), missed


async def run(script: list[tuple[Any, ...]], grace: float) -> None:
    memory = MemoryStore(MemoryBus(), presence_grace=grace)
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    redis = RedisStore(
        client, node_id="n1", prefix=f"p{secrets.token_hex(2)}:", presence_grace=grace
    )
    now = int(time.time() * 1000) + 3_600_000  # ahead of the wall clock: no key expires
    seats: dict[str, str] = {}
    try:
        for step in script:
            if step[0] == "wait":
                now += step[1] * 1000
            answers = [await apply(store, step, now) for store in (memory, redis)]
            assert answers[0] == answers[1], (step, answers)
            if step[0] == "join" and isinstance(answers[0], tuple) and answers[0][0] != "banned":
                seats[step[3]] = step[1]  # the user this connection last joined as
            views = [await observe(store, now, seats) for store in (memory, redis)]
            assert views[0] == views[1], (step, views)
    finally:
        await redis.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.sampled_from([0.0, 2.0]))
def test_memory_and_redis_agree(script: list[tuple[Any, ...]], grace: float) -> None:
    """Every answer and every view (members, bans in force, kicks a node may have missed)
    matches between backends,
    with and without the presence grace (a lingering user is kicked like a present one)."""
    asyncio.run(run(script, grace))
