// What PostgreSQL can store of a JavaScript string: text and jsonb refuse U+0000, jsonb refuses an unpaired
// UTF-16 surrogate (and text would silently store U+FFFD in its place). Input holding either is refused where
// it comes in, with a clear error, instead of failing the statement that stores it.

/** True when `text` can be stored in a text or jsonb column exactly as it is. */
export function isStorableText(text: string): boolean {
  // isWellFormed (Node 20) is the unpaired-surrogate check, several times faster than a regular expression
  return !text.includes('\u0000') && (text as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * The path (dot-separated; array items by index) of the first string in `value`, key or value, that
 * isStorableText refuses; null when there is none. Binary values (File, Buffer) are not text and are skipped.
 */
export function unstorablePath(value: unknown, path = ''): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path;
  if (value === null || typeof value !== 'object' || value instanceof Blob || Buffer.isBuffer(value))
    return null;
  if (value instanceof Date) return null;
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [String(i), v])
    : Object.entries(value as Record<string, unknown>);
  for (const [key, item] of entries) {
    const at = path ? `${path}.${key}` : key;
    if (!isStorableText(key)) return at;
    const bad = unstorablePath(item, at);
    if (bad !== null) return bad;
  }
  return null;
}
