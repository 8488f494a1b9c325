// The nodemailer internal that remote delivery reads (relay-node/src/deliver/nodemailer-internals.ts):
// after STARTTLS, SMTPConnection's `_socket` is the TLS socket with the peer's certificate. Against a real
// smtp-server with and without STARTTLS, so an upgrade of nodemailer that moves it fails here.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { SMTPServer } from "smtp-server";
import { afterAll, describe, expect, it } from "vitest";
import { tlsSocketOf } from "../../relay-node/src/deliver/nodemailer-internals.ts";
import { makeSelfSignedCertificate } from "../harness/certificate.ts";

const dir = mkdtempSync(join(tmpdir(), "edgemx-nodemailer-"));
const certificate = makeSelfSignedCertificate(dir, "mailbox.example.org");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An smtp-server on a free loopback port, offering STARTTLS or not. */
async function server(starttls: boolean): Promise<{ port: number; close(): Promise<void> }> {
  const smtp = new SMTPServer({
    authOptional: true,
    logger: false,
    hideSTARTTLS: !starttls,
    key: readFileSync(certificate.keyPath),
    cert: readFileSync(certificate.certPath),
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", resolve));
  const address = smtp.server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return { port: address.port, close: () => new Promise<void>((resolve) => smtp.close(resolve)) };
}

/** Connects as transaction.ts does (STARTTLS when offered, the certificate judged by the caller) and reads the socket. */
async function socketAfterEhlo(port: number): Promise<TLSSocket | undefined> {
  const connection = new SMTPConnection({
    host: "127.0.0.1",
    port,
    name: "mx.example.org",
    tls: { rejectUnauthorized: false, servername: "mailbox.example.org" },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      connection.once("error", reject);
      connection.connect((err) => (err ? reject(err) : resolve()));
    });
    return tlsSocketOf(connection);
  } finally {
    connection.close();
  }
}

describe("nodemailer's SMTPConnection socket", () => {
  it("is the TLS socket after STARTTLS, with the peer's certificate chain", async () => {
    const peer = await server(true);
    try {
      const socket = await socketAfterEhlo(peer.port);
      expect(socket, "nodemailer's SMTPConnection no longer keeps the TLS socket in _socket: find its new home").toBeInstanceOf(TLSSocket);
      expect(socket?.getPeerCertificate(true).subject.CN).toBe("mailbox.example.org");
      expect(socket?.getProtocol()).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await peer.close();
    }
  });

  it("is not read without STARTTLS", async () => {
    const peer = await server(false);
    try {
      expect(await socketAfterEhlo(peer.port)).toBeUndefined();
    } finally {
      await peer.close();
    }
  });
});
