/** Types of officecrypto-tool's per-format modules (src/util/{doc97,xls97,ppt97}.js). */
declare const mod: {
  decrypt(cfb: unknown, blob: Uint8Array, password: string, input: Uint8Array): Uint8Array;
};
export default mod;
