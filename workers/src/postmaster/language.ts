// Which language the postmaster page speaks: ?lang= first, else Accept-Language, else English.

export const LANGUAGES = ["en", "de"] as const;
export type Lang = (typeof LANGUAGES)[number];
const DEFAULT_LANG: Lang = "en";

function isLang(value: string): value is Lang {
  return (LANGUAGES as readonly string[]).includes(value);
}

export interface LanguageRange {
  /** Lower-cased, e.g. "de-at" or "*". */
  range: string;
  /** RFC 9110 §12.4.2 qvalue, 0 to 1. */
  q: number;
}

/** More ranges than any browser sends are ignored: the header is untrusted input. */
const MAX_RANGES = 32;
// RFC 4647 §2.1 language-range; RFC 9110 §12.4.2 weight ";q=" with at most three decimals.
const RANGE_RE = /^([a-z]{1,8}(-[a-z0-9]{1,8})*|\*)$/i;
const WEIGHT_RE = /^q=(0(\.\d{0,3})?|1(\.0{0,3})?)$/i;

/** RFC 9110 §12.5.4: the ranges of an Accept-Language header with their weights; malformed ones are skipped. */
export function parseAcceptLanguage(header: string): LanguageRange[] {
  const ranges: LanguageRange[] = [];
  for (const element of header.split(",").slice(0, MAX_RANGES)) {
    const [rangePart = "", ...params] = element.split(";").map((p) => p.trim());
    if (!RANGE_RE.test(rangePart)) continue;
    let q = 1;
    let wellFormed = true;
    for (const param of params) {
      const weight = WEIGHT_RE.exec(param);
      if (weight?.[1] === undefined) wellFormed = false;
      else q = Number(weight[1]);
    }
    if (wellFormed) ranges.push({ range: rangePart.toLowerCase(), q });
  }
  return ranges;
}

interface Preference {
  lang: Lang;
  q: number;
  /** Where the header first names this language (directly or by "*"): earlier wins a tie. */
  position: number;
}

/**
 * A language's weight is that of the ranges naming it ("de", "de-DE" …; the highest if several),
 * else that of "*", else it is not acceptable.
 */
function preferenceOf(lang: Lang, ranges: readonly LanguageRange[]): Preference | null {
  const indexed = ranges.map((r, position) => ({ ...r, position }));
  const naming = indexed.filter((r) => r.range.split("-")[0] === lang);
  const chosen = naming.length > 0 ? naming : indexed.filter((r) => r.range === "*");
  if (chosen.length === 0) return null;
  return { lang, q: Math.max(...chosen.map((r) => r.q)), position: Math.min(...chosen.map((r) => r.position)) };
}

/** The best of our languages for an Accept-Language header; English when none is acceptable. */
export function negotiateLanguage(acceptLanguage: string | null): Lang {
  if (!acceptLanguage) return DEFAULT_LANG;
  const ranges = parseAcceptLanguage(acceptLanguage);
  const acceptable = LANGUAGES.map((lang) => preferenceOf(lang, ranges)).filter((p): p is Preference => p !== null && p.q > 0);
  acceptable.sort((a, b) => b.q - a.q || a.position - b.position);
  return acceptable[0]?.lang ?? DEFAULT_LANG;
}

/** An explicit, known ?lang= wins; an unknown value is ignored in favour of negotiation. */
export function pageLanguage(langParam: string | null, acceptLanguage: string | null): Lang {
  const asked = langParam?.trim().toLowerCase() ?? "";
  return isLang(asked) ? asked : negotiateLanguage(acceptLanguage);
}
