/** zod schemas for what plugins return: anything else is "garbage" and becomes an error. */
import { z } from "zod";
import { PayloadMetaSchema } from "./model.ts";

const PluginErrorSchema = z.union([
  z.string(),
  z.object({
    error: z.string(),
    plugin_name: z.string().nullable().optional(),
    payload_id: z.string().nullable().optional(),
  }),
]);
const ErrorsSchema = z.array(PluginErrorSchema).optional();

export const WorkerResponseSchema = z.object({
  results: z.unknown().optional(),
  extracted: z.array(
    z.object({
      content: z.union([z.instanceof(Uint8Array), z.string()]),
      payload_meta: PayloadMetaSchema.optional(),
    }).strict(),
  ).optional(),
  errors: ErrorsSchema,
  dispatch_to: z.array(z.string()).optional(),
}).strict();

export const DispatcherResponseSchema = z.object({
  plugin_names: z.array(z.string()).optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  errors: ErrorsSchema,
}).strict();

export const ArchiverResponseSchema = z.object({
  results: z.unknown().optional(),
  errors: ErrorsSchema,
}).strict();

export const PayloadInputSchema = z.object({
  content: z.instanceof(Uint8Array),
  payload_meta: PayloadMetaSchema.optional(),
  request_meta: z.unknown().optional(),
});

/** A short description of why `value` does not fit `schema`, for error messages. */
export function whyInvalid(error: z.ZodError): string {
  return error.issues.slice(0, 3).map((i) =>
    `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`
  ).join("; ");
}
