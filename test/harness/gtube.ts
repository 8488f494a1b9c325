// rspamd's test patterns: GTUBE (the Generic Test for Unsolicited Bulk Email, SpamAssassin's) makes
// rspamd answer "reject" whatever else the message holds; its variants, which the harness's rspamd
// enables with enable_test_patterns (rspamd.ts), give the other actions on demand.
const TAIL = "*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

export const GTUBE = `XJS${TAIL}`;
export const GTUBE_PATTERNS = {
  reject: GTUBE,
  "add header": `YJS${TAIL}`,
  "rewrite subject": `ZJS${TAIL}`,
  "no action": `AJS${TAIL}`,
} as const;
