/** IOC types in stoQ's result key order: shared by the plugin's option schema and the extractor. */
export const IOC_TYPES = [
  "md5",
  "sha1",
  "sha256",
  "sha512",
  "ipv4",
  "ipv6",
  "mac_address",
  "email",
  "domain",
  "url",
] as const;

/** One IOC type. */
export type IocType = typeof IOC_TYPES[number];
