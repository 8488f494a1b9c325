// startServices (relay-node/src/lifecycle.ts): what a start had opened is disposed in reverse order
// when it fails, and the start's error is the one thrown even when disposing fails too.
import { describe, expect, it } from "vitest";
import { startServices } from "../../relay-node/src/lifecycle.ts";

describe("startServices", () => {
  it("disposes what a failed start had registered, last first, and rethrows the start's error", async () => {
    const closed: string[] = [];
    const refused = new Error("the spam filter refuses");
    const closeErrors: unknown[] = [];
    await expect(
      startServices(
        (services) => {
          services.defer(() => void closed.push("stores"));
          // An asynchronous disposer, as delivery's stop() is.
          services.defer(() => Promise.resolve().then(() => void closed.push("delivery")));
          services.defer(() => void closed.push("control socket"));
          return Promise.reject(refused);
        },
        (err) => closeErrors.push(err),
      ),
    ).rejects.toBe(refused);
    expect(closed).toEqual(["control socket", "delivery", "stores"]);
    expect(closeErrors).toEqual([]);
  });

  it("keeps the start's error when disposing fails, reports the disposal's, and still disposes the rest", async () => {
    const closed: string[] = [];
    const refused = new Error("the spam filter refuses");
    const stuck = new Error("the store does not close");
    const closeErrors: unknown[] = [];
    await expect(
      startServices(
        (services) => {
          services.defer(() => void closed.push("stores"));
          services.defer(() => {
            throw stuck;
          });
          services.defer(() => void closed.push("control socket"));
          return Promise.reject(refused);
        },
        (err) => closeErrors.push(err),
      ),
    ).rejects.toBe(refused);
    expect(closed).toEqual(["control socket", "stores"]);
    expect(closeErrors).toEqual([stuck]);
  });

  it("leaves a successful start's services running for the caller to dispose, last first", async () => {
    const closed: string[] = [];
    const { started, services } = await startServices(
      (services) => {
        services.defer(() => void closed.push("stores"));
        services.defer(() => void closed.push("listener"));
        return Promise.resolve("running");
      },
      () => {
        throw new Error("not called");
      },
    );
    expect(started).toBe("running");
    expect(closed).toEqual([]);
    await services.disposeAsync();
    expect(closed).toEqual(["listener", "stores"]);
  });
});
