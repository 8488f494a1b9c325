// STUB — being written.
export function serveAutodiscoverXml(..._args: unknown[]): Response { return new Response("not yet", { status: 501 }); }
export function serveAutodiscoverJson(..._args: unknown[]): Response { return new Response("not yet", { status: 501 }); }
