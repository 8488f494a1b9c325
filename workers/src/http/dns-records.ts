// STUB — being written.
export function serveDnsRecords(..._args: unknown[]): Response { return new Response("not yet", { status: 501 }); }
