// How long the page waits before reconnecting: full-jitter exponential backoff,
// so a crowd of pages cut off together does not come back at once.

export const BASE_DELAY = 400;
export const MAX_DELAY = 15000;
export const MAX_ATTEMPT = 10;

/** 150 ms plus a random share of min(15 s, 0.4 s · 2^attempt). */
export function reconnectDelay(attempt, random = Math.random) {
  const cap = Math.min(MAX_DELAY, BASE_DELAY * 2 ** attempt);
  return 150 + random() * cap;
}

/** The attempt count after one more failed try (it stops growing at MAX_ATTEMPT). */
export const nextAttempt = (attempt) => Math.min(attempt + 1, MAX_ATTEMPT);
