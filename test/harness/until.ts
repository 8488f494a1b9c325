// Waiting in a test for what happens elsewhere (a queue delivering, a Worker storing): the probe is asked
// every 200 ms until it gives a value; the test's own timeout is the hang guard, this one names what hung.

/** The probe's first value other than undefined; throws naming `what` after 30 s. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} did not happen within 30 s`);
}
