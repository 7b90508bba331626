"""Corpus: coroutines under asyncio: await chains, tasks and gather, async
generators, async context managers, an exception caught across awaits and a
cancelled task.

Deterministic: only sleep(0) and ready futures, so asyncio runs everything
in the same order every time.
"""
import asyncio


async def leaf(n):
    await asyncio.sleep(0)
    return n * 3


async def middle(n):
    first = await leaf(n)
    second = await leaf(n + 1)
    return first + second


async def ticker(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


class Session:
    def __init__(self, log):
        self.log = log

    async def __aenter__(self):
        await asyncio.sleep(0)
        self.log.append("enter")
        return self

    async def __aexit__(self, kind, value, tb):
        await asyncio.sleep(0)
        self.log.append("exit")
        return False


async def failing():
    await asyncio.sleep(0)
    raise LookupError("no such row")


async def sleeper(started):
    started.set_result(True)
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        return "cancelled"
    return "woke"


async def main():
    chained = await middle(1)
    gathered = await asyncio.gather(*(middle(i) for i in range(5)))
    ticks = [i async for i in ticker(7)]
    log = []
    async with Session(log) as session:
        log.append(type(session).__name__)
    try:
        await failing()
    except LookupError as exc:
        log.append(str(exc))
    started = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(sleeper(started))
    await started
    task.cancel()
    outcome = await task
    print(chained, gathered, ticks, log, outcome)
    return 0


asyncio.run(main())
