/** The stoq release this build is. */
export const VERSION = "0.1.0";
