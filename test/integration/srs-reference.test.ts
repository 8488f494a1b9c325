// core/srs/ against Mail::SRS (Debian's libmail-srs-perl), the reference implementation of the Sender
// Rewriting Scheme by its author, in its default Guarded form, as libsrs2 and postsrsd make the same
// addresses: what one makes with a secret, the other reverses with it — SRS0 and SRS1, both ways — and
// neither accepts the other's address under another secret.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { srsForward, srsReverse, type SrsSecrets } from "../../core/srs/srs.ts";

const SECRET = "shared between both implementations";
const SECRETS: SrsSecrets = [SECRET];
const MAX_AGE_DAYS = 21;

// forward SENDER ALIAS: the SRS address; reverse ADDRESS: the address it stands for, or "ERROR: why".
const SCRIPT = `
use strict;
use Mail::SRS;
my ($op, $secret, $address, $alias) = @ARGV;
my $srs = Mail::SRS->new(Secret => $secret, MaxAge => ${MAX_AGE_DAYS});
if ($op eq "forward") { print $srs->forward($address, $alias); }
else { my $r = eval { $srs->reverse($address) }; print defined $r ? $r : "ERROR: $@"; }
`;

function perl(...args: string[]): string {
  const run = spawnSync("perl", ["-e", SCRIPT, ...args], { encoding: "utf8", timeout: 10_000 });
  if (run.status !== 0) throw new Error(`perl exited ${run.status}: ${run.stderr}`);
  return run.stdout;
}

const localOf = (address: string) => address.slice(0, address.lastIndexOf("@"));

describe("core/srs and Mail::SRS make and read the same addresses", () => {
  for (const sender of ["alice@sender.example", "Bob.Smith+list@Sender.Example", "x=y@sender.example"]) {
    it(`SRS0 for ${sender}: each reverses the other's`, () => {
      const ours = srsForward(sender, "forwarder.example", SECRETS, new Date());
      const theirs = perl("forward", SECRET, sender, "forwarder.example");
      // Both hash the same fields with the same key on the same day: the same address.
      expect(ours).toBe(theirs);
      expect(perl("reverse", SECRET, ours)).toBe(sender);
      expect(srsReverse(localOf(theirs), SECRETS, new Date(), MAX_AGE_DAYS)).toMatchObject({ valid: true, address: sender });
    });
  }

  it("SRS1 of another forwarder's SRS0: each reverses the other's to that SRS0 address", () => {
    const first = perl("forward", "the first forwarder's own secret", "alice@sender.example", "first.example");
    const ours = srsForward(first, "forwarder.example", SECRETS, new Date());
    const theirs = perl("forward", SECRET, first, "forwarder.example");
    expect(ours).toBe(theirs);
    expect(perl("reverse", SECRET, ours)).toBe(first);
    expect(srsReverse(localOf(theirs), SECRETS, new Date(), MAX_AGE_DAYS)).toEqual({ valid: true, address: first });
  });

  it("SRS1 of another forwarder's SRS1: the same re-hashed address", () => {
    const first = perl("forward", "the first forwarder's own secret", "alice@sender.example", "first.example");
    const second = perl("forward", "the second forwarder's own secret", first, "second.example");
    expect(srsForward(second, "forwarder.example", SECRETS, new Date())).toBe(perl("forward", SECRET, second, "forwarder.example"));
  });

  it("neither takes the other's address under another secret", () => {
    const theirs = perl("forward", "not our secret at all, really", "alice@sender.example", "forwarder.example");
    expect(srsReverse(localOf(theirs), SECRETS, new Date(), MAX_AGE_DAYS)).toMatchObject({ valid: false, reason: "hash" });
    const ours = srsForward("alice@sender.example", "forwarder.example", ["not our secret at all, really"], new Date());
    expect(perl("reverse", SECRET, ours)).toMatch(/^ERROR: .*Invalid hash/);
  });

  it("Mail::SRS refuses our address once it is older than MaxAge, as we do", () => {
    const old = new Date(Date.now() - (MAX_AGE_DAYS + 2) * 86_400_000);
    const ours = srsForward("alice@sender.example", "forwarder.example", SECRETS, old);
    expect(perl("reverse", SECRET, ours)).toMatch(/^ERROR: .*Invalid timestamp/);
    expect(srsReverse(localOf(ours), SECRETS, new Date(), MAX_AGE_DAYS)).toMatchObject({ valid: false, reason: "expired" });
  });
});
