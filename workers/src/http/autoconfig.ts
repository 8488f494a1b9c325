// STUB — being written.
export function serveAutoconfig(..._args: unknown[]): Response { return new Response("not yet", { status: 501 }); }
