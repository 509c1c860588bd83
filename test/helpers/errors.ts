import assert from 'node:assert/strict';

/** A user's mistake: `fn` throws one line that starts with the file's name and matches `pattern`. */
export function assertOneLineError(fn: () => unknown, file: string, pattern: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(!e.message.includes('\n'), `multi-line message: ${e.message}`);
    assert.ok(e.message.startsWith(`${file}: `), `message does not name the file: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });
}
