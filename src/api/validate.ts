/** Request input checked by zod schemas: a 400 naming the field on any problem. */
import type { Request } from 'express';
import type { z } from 'zod';
import { fromZodError, HttpError } from './errors';

/** A value validated by a zod schema: 400 with the field path on any problem. */
export function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error);
  return parsed.data;
}

/** The JSON body, validated. */
export function readBody<T>(req: Request, schema: z.ZodType<T>): T {
  if (req.body === undefined) {
    throw HttpError.invalid('The request body must be JSON, sent with "Content-Type: application/json".', {
      code: 'invalid_json',
    });
  }
  return validate(schema, req.body);
}

/** A `*model` route parameter: a model name's segments (it may have slashes), joined again. */
export const modelParam = (v: unknown): string => (Array.isArray(v) ? v.join('/') : String(v));
