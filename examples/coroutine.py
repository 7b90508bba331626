"""Coroutines under asyncio to trace: each await suspends (PY_YIELD) and
resumes (PY_RESUME) the coroutine."""
import asyncio


async def fetch(name, delay):
    await asyncio.sleep(delay)
    return name.upper()


async def main():
    results = await asyncio.gather(fetch("alpha", 0.05), fetch("beta", 0.02))
    print("results:", results)


if __name__ == "__main__":
    asyncio.run(main())
