/**
 * Serialises read-modify-write of one token (counter, refill token) across concurrent
 * requests: two offline answers must never hand out the same counters.
 */
const locks = new WeakMap<object, Map<number, Promise<unknown>>>();

export async function withTokenLock<T>(owner: object, tokenId: number, body: () => Promise<T>): Promise<T> {
  let perOwner = locks.get(owner);
  if (!perOwner) {
    perOwner = new Map();
    locks.set(owner, perOwner);
  }
  const previous = perOwner.get(tokenId) ?? Promise.resolve();
  const run = previous.then(body, body);
  const tail = run.catch(() => undefined);
  perOwner.set(tokenId, tail);
  try {
    return await run;
  } finally {
    if (perOwner.get(tokenId) === tail) perOwner.delete(tokenId);
  }
}
