/** The one polling wait of the tests (for state no event announces). */

/** Polls `cond` every 5 ms until it holds. @throws after `ms` milliseconds, naming `what`. */
export async function waitFor(cond: () => boolean, what = 'a condition', ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}
