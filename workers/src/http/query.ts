// Query parameters whose names clients spell in any case (Outlook sends "Email=", others "email=").

/** The first value of the parameter `name`, its name matched case-insensitively; null when absent. */
export function queryValue(url: URL, name: string): string | null {
  const wanted = name.toLowerCase();
  for (const [key, value] of url.searchParams) {
    if (key.toLowerCase() === wanted) return value;
  }
  return null;
}
