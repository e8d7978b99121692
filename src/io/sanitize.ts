// Text from the database or from input files is shown to people on terminals. Control
// characters (C0, DEL, C1), and the bidirectional and invisible formatting characters, could
// move the cursor, retitle the window or make one id look like another; each is shown as a
// visible \u{...} escape instead.

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;

export function safeText(value: string): string {
  return value.replace(UNSAFE, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

export function hasUnsafe(value: string): boolean {
  UNSAFE.lastIndex = 0;
  const found = UNSAFE.test(value);
  UNSAFE.lastIndex = 0;
  return found;
}
