import { CompoundFile } from "../plugins/lib/office/cfb.ts";
import { readPpt } from "../plugins/lib/office/ppt.ts";
const cfb = new CompoundFile(await Deno.readFile(Deno.args[0]));
const d = cfb.find("PowerPoint Document")!, u = cfb.find("Current User");
const r = readPpt(cfb.read(d), u && cfb.read(u), { maxVbaSize: 1 << 26, maxChars: 1 << 20 });
console.log(JSON.stringify({ ...r, vba: r.vba && { ...r.vba, storage: r.vba.storage.length } }, null, 1));
