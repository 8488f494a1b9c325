// STUB — being written.
export function servePostmasterPage(..._args: unknown[]): Response { return new Response("not yet", { status: 501 }); }
