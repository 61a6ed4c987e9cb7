/**
 * What a terminal shows after it was sent `transcript`: enough of a VT100 for the live
 * progress view (carriage return, newline, cursor up, erase line and erase to the end of the
 * screen; colours dropped). Tests assert on the text a person would read.
 */
export function screen(transcript: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  let col = 0;
  const text = transcript.replace(/\x1b\[[0-9;]*m/g, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\x1b' && text[i + 1] === '[') {
      const match = /^\x1b\[(\d*)([A-Za-z])/.exec(text.slice(i))!;
      const n = match[1] === '' ? 1 : Number(match[1]);
      if (match[2] === 'A') row = Math.max(0, row - n);
      else if (match[2] === 'K') lines[row] = lines[row]!.slice(0, col);
      else if (match[2] === 'J') {
        lines[row] = lines[row]!.slice(0, col);
        lines.length = row + 1;
      }
      i += match[0].length - 1;
    } else if (c === '\r') col = 0;
    else if (c === '\n') {
      row++;
      col = 0;
      if (lines[row] === undefined) lines[row] = '';
    } else {
      const line = lines[row]!.padEnd(col);
      lines[row] = line.slice(0, col) + c + line.slice(col + 1);
      col++;
    }
  }
  return lines.map((l) => l.trimEnd()).filter((l, i, all) => l !== '' || i < all.length - 1);
}
