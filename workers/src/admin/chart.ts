// A stacked bar chart as inline SVG, rendered on the server: no script, no library, nothing loaded.
// It is an image to the accessibility tree (role="img" with a title and description); the page puts
// the same numbers in a table beside it for screen readers and for reading exact values.
import { htmlEscape } from "../postmaster/html.ts";

export interface Series {
  label: string;
  /** A CSS color; the page's palette keeps them apart for common colour blindness. */
  color: string;
  values: readonly number[];
}

const WIDTH = 640;
const HEIGHT = 240;
const LEFT = 48;
const BOTTOM = 28;
const TOP = 8;
/** At most this many day labels under the bars, evenly spread. */
const MAX_LABELS = 6;

/** A round upper bound of the axis: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((m) => m >= value) ?? 10 * power;
}

const compact = (n: number): string => (n >= 1_000_000 ? `${+(n / 1_000_000).toFixed(1)}M` : n >= 1000 ? `${+(n / 1000).toFixed(1)}k` : String(n));

export function stackedBarChart(id: string, title: string, categories: readonly string[], series: readonly Series[]): string {
  const totals = categories.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotWidth = WIDTH - LEFT - 8;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = plotWidth / Math.max(1, categories.length);
  const barWidth = Math.max(2, Math.min(40, slot * 0.7));
  const y = (value: number) => TOP + plotHeight - (value / max) * plotHeight;
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const at = y(max * f).toFixed(1);
      return `<line x1="${LEFT}" x2="${WIDTH - 8}" y1="${at}" y2="${at}" stroke="currentColor" stroke-opacity=".15"/><text x="${LEFT - 6}" y="${at}" text-anchor="end" dominant-baseline="middle" font-size="11" fill="currentColor">${compact(Math.round(max * f))}</text>`;
    })
    .join("");
  const bars = categories
    .map((category, i) => {
      let base = 0;
      const x = (LEFT + i * slot + (slot - barWidth) / 2).toFixed(1);
      return series
        .map((s) => {
          const value = s.values[i] ?? 0;
          if (value === 0) return "";
          const top = y(base + value);
          const height = y(base) - top;
          base += value;
          return `<rect x="${x}" y="${top.toFixed(1)}" width="${barWidth.toFixed(1)}" height="${Math.max(0.5, height).toFixed(1)}" fill="${s.color}"><title>${htmlEscape(`${category} · ${s.label}: ${value}`)}</title></rect>`;
        })
        .join("");
    })
    .join("");
  const every = Math.max(1, Math.ceil(categories.length / MAX_LABELS));
  const labels = categories
    .map((category, i) =>
      i % every === 0 || i === categories.length - 1
        ? `<text x="${(LEFT + i * slot + slot / 2).toFixed(1)}" y="${HEIGHT - 8}" text-anchor="middle" font-size="11" fill="currentColor">${htmlEscape(category)}</text>`
        : "",
    )
    .join("");
  const legend = series
    .map(
      (s) => `<li><svg class="swatch" viewBox="0 0 12 12" aria-hidden="true"><rect width="12" height="12" fill="${s.color}"/></svg>${htmlEscape(s.label)}</li>`,
    )
    .join("");
  return (
    `<figure class="chart"><svg class="plot" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${id}-title" preserveAspectRatio="xMidYMid meet">` +
    `<title id="${id}-title">${htmlEscape(title)}</title>${grid}${bars}${labels}</svg>` +
    `<figcaption><ul class="legend">${legend}</ul></figcaption></figure>`
  );
}
