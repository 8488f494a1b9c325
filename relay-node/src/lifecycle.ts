// Starting services so that none is left open: each is put on an AsyncDisposableStack as soon as it
// runs (stack.defer / use / adopt), and the stack disposes them in reverse order — on stop, and when the
// start fails part-way, where the start's own error is the one thrown.

/**
 * Runs `start` with a fresh stack. On success the stack is the caller's to dispose (its stop). When
 * `start` throws, what it had put on the stack is disposed here; a failure in that goes to
 * `onCloseError` and does not replace the start's error, which is rethrown.
 */
export async function startServices<T>(
  start: (services: AsyncDisposableStack) => Promise<T>,
  onCloseError: (err: unknown) => void,
): Promise<{ started: T; services: AsyncDisposableStack }> {
  const services = new AsyncDisposableStack();
  try {
    return { started: await start(services), services };
  } catch (err) {
    await services.disposeAsync().catch(onCloseError);
    throw err;
  }
}
