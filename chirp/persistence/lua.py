"""Lua scripts called by SHA1, reloaded when Redis lost them.

redis-py's ``Script`` sends ``SCRIPT EXISTS`` before each pipeline (a second
round trip per call); these scripts are sent by ``EVALSHA`` only, and a batch
that finds them missing (Redis restarted, ``SCRIPT FLUSH``) loads every
registered script and runs again. Batches must therefore be idempotent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError


class Script:
    """One script; ``registry`` collects those to reload together."""

    def __init__(self, source: str, *, registry: list[Script]) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._registry = registry
        registry.append(self)

    def queue(self, pipe: Pipeline, *, keys: Sequence[str], args: Sequence[Any]) -> None:
        pipe.evalsha(self.sha, len(keys), *keys, *args)

    async def __call__(self, redis: Redis, *, keys: Sequence[str], args: Sequence[Any]) -> Any:
        replies = await run_batch(
            redis, lambda pipe: self.queue(pipe, keys=keys, args=args), self._registry
        )
        return replies[0]


async def run_batch(
    redis: Redis, queue: Callable[[Pipeline], None], scripts: Sequence[Script]
) -> list[Any]:
    """Run what ``queue`` adds to a pipeline in one round trip; load ``scripts``
    and run it again if Redis had lost them."""
    for attempt in range(2):
        async with redis.pipeline(transaction=False) as pipe:
            queue(pipe)
            try:
                return await pipe.execute()
            except NoScriptError:
                if attempt:
                    raise
        for script in scripts:
            await redis.script_load(script.source)
    raise AssertionError("unreachable")
