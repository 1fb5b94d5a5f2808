/**
 * Windows Installer stream names. An .msi is an OLE2 file whose stream names are packed to fit
 * the 31-character CFB limit: each code unit in 0x3800-0x47FF holds two characters of the
 * 64-letter alphabet [0-9A-Za-z._], 0x4800-0x483F one, and a leading 0x4840 marks a database
 * table ("!" in msitools and oledump). Decoded as Wine's msi/table.c decode_streamname does.
 */

const ALPHABET = [..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"].map((c) =>
  c.charCodeAt(0)
);
const BANG = 0x21;

/** The readable name: "!" for the table marker, other characters (and "/") kept as they are. */
export function decodeMsiName(name: string): string {
  const out: number[] = [];
  let changed = false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x3800 || c > 0x4840) {
      out.push(c);
      continue;
    }
    changed = true;
    if (c === 0x4840) out.push(BANG);
    else if (c >= 0x4800) out.push(ALPHABET[c - 0x4800]);
    else out.push(ALPHABET[(c - 0x3800) & 0x3f], ALPHABET[((c - 0x3800) >> 6) & 0x3f]);
  }
  return changed ? String.fromCharCode(...out) : name;
}
